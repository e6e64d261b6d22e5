// The live camera page: send camera frames over a WebSocket to /ws/camera and show the
// stylized JPEG frames that come back, with one frame in flight at a time.
"use strict";

(function () {
  const site = window.fastnst;
  const root = document.querySelector("[data-frame-side]");
  const frameSide = parseInt(root.dataset.frameSide, 10) || 384;
  const styleSelect = document.getElementById("camera-style");
  const startButton = document.getElementById("camera-start");
  const stopButton = document.getElementById("camera-stop");
  const video = document.getElementById("camera-video");
  const canvas = document.getElementById("camera-canvas");
  const output = document.getElementById("camera-output");
  const fpsText = document.getElementById("camera-fps");
  const framesText = document.getElementById("camera-frames");
  const errorBox = document.getElementById("error");
  const FPS_WINDOW_MS = 2000;
  const ERROR_PAUSE_MS = 1000;

  let stream = null;
  let socket = null;
  let outputUrl = null;
  let inFlight = false;
  let frames = 0;
  let received = [];   // arrival times (ms) of the frames in the FPS window
  let startedAt = 0;
  let fpsTimer = null;

  // Frames per second over the last ~2 s (or since the start, when that is shorter).
  function updateFps() {
    const now = performance.now();
    received = received.filter((t) => now - t <= FPS_WINDOW_MS);
    const windowMs = Math.min(FPS_WINDOW_MS, now - startedAt);
    const fps = windowMs > 0 ? received.length / (windowMs / 1000) : 0;
    fpsText.textContent = fps.toFixed(1) + " fps";
    framesText.textContent = String(frames);
  }

  // Tell the server which style to use.
  function sendStyle() {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ style: styleSelect.value }));
    }
  }

  // Grab the current video frame, scaled so its long side is frameSide, as a JPEG Blob.
  function grabFrame() {
    const w = video.videoWidth;
    const h = video.videoHeight;
    const scale = frameSide / Math.max(w, h);
    canvas.width = Math.max(1, Math.round(w * scale));
    canvas.height = Math.max(1, Math.round(h * scale));
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.8));
  }

  // Send one frame, unless one is already waiting for its reply.
  async function sendFrame() {
    if (inFlight || !socket || socket.readyState !== WebSocket.OPEN) {
      return;
    }
    if (!video.videoWidth || !video.videoHeight) {
      // The camera has not delivered its first frame yet.
      setTimeout(sendFrame, 100);
      return;
    }
    inFlight = true;
    const blob = await grabFrame();
    if (!blob || !socket || socket.readyState !== WebSocket.OPEN) {
      inFlight = false;
      return;
    }
    socket.send(await blob.arrayBuffer());
  }

  // Show a stylized frame (binary) or an error (text JSON); then send the next frame.
  function onMessage(event) {
    if (typeof event.data === "string") {
      let message = {};
      try {
        message = JSON.parse(event.data);
      } catch (err) {
        message = { error: event.data };
      }
      if (message.error) {
        site.showError(errorBox, message.error);
        // The error answers the frame in flight; pause before the next so a lasting
        // problem does not turn into a busy loop.
        if (inFlight) {
          inFlight = false;
          setTimeout(sendFrame, ERROR_PAUSE_MS);
        }
      }
      return;
    }
    const blob = new Blob([event.data], { type: "image/jpeg" });
    if (outputUrl) {
      URL.revokeObjectURL(outputUrl);
    }
    outputUrl = URL.createObjectURL(blob);
    output.src = outputUrl;
    output.hidden = false;
    frames += 1;
    received.push(performance.now());
    updateFps();
    site.clearError(errorBox);
    inFlight = false;
    sendFrame();
  }

  // Open the camera and the socket, and start the frame loop.
  async function start() {
    site.clearError(errorBox);
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      site.showError(errorBox, "This browser cannot open a camera here (it needs HTTPS or localhost).");
      return;
    }
    startButton.disabled = true;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: true });
    } catch (err) {
      startButton.disabled = false;
      site.showError(errorBox, "Could not open the camera: " + err.message);
      return;
    }
    video.srcObject = stream;
    video.hidden = false;
    stopButton.disabled = false;
    frames = 0;
    received = [];
    startedAt = performance.now();
    inFlight = false;
    updateFps();
    fpsTimer = setInterval(updateFps, 500);

    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(scheme + "//" + location.host + "/ws/camera");
    socket.binaryType = "arraybuffer";
    socket.addEventListener("open", () => {
      sendStyle();
      sendFrame();
    });
    socket.addEventListener("message", onMessage);
    socket.addEventListener("close", (event) => {
      if (socket && event.target === socket) {
        // Closed by the server or the network, not by the Stop button.
        site.showError(errorBox, event.reason || "The connection to the server was closed.");
        stop();
      }
    });
  }

  // Close the socket, release the camera and stop counting.
  function stop() {
    const closing = socket;
    socket = null;
    if (closing) {
      closing.close();
    }
    if (stream) {
      stream.getTracks().forEach((track) => track.stop());
      stream = null;
    }
    video.srcObject = null;
    video.hidden = true;
    clearInterval(fpsTimer);
    fpsTimer = null;
    inFlight = false;
    startButton.disabled = false;
    stopButton.disabled = true;
    fpsText.textContent = "0.0 fps";
  }

  startButton.addEventListener("click", start);
  stopButton.addEventListener("click", stop);
  styleSelect.addEventListener("change", sendStyle);
})();
