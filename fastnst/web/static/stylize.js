// The Stylize page: choose a photo (picker, drop or sample), post it to /api/stylize,
// show the PNG that comes back, and optionally share it to the gallery.
"use strict";

(function () {
  const site = window.fastnst;
  const drop = document.getElementById("drop");
  const picker = document.getElementById("photo");
  const preview = document.getElementById("photo-preview");
  const strength = document.getElementById("strength");
  const strengthValue = document.getElementById("strength-value");
  const preserve = document.getElementById("preserve-colors");
  const button = document.getElementById("stylize-button");
  const status = document.getElementById("status");
  const errorBox = document.getElementById("error");
  const resultSection = document.getElementById("result-section");
  const result = document.getElementById("result");
  const download = document.getElementById("download");
  const caption = document.getElementById("caption");
  const shareButton = document.getElementById("share");
  const shareStatus = document.getElementById("share-status");

  // The current photo and result, with the object URLs that show them.
  const state = { photo: null, photoName: "photo.jpg", photoUrl: null, result: null, resultUrl: null };

  // Make the chosen photo current and show it in the preview.
  function setPhoto(blob, name) {
    if (!blob.type.startsWith("image/")) {
      site.showError(errorBox, "That file is not an image.");
      return;
    }
    site.clearError(errorBox);
    state.photo = blob;
    state.photoName = name || "photo.jpg";
    if (state.photoUrl) {
      URL.revokeObjectURL(state.photoUrl);
    }
    state.photoUrl = URL.createObjectURL(blob);
    preview.src = state.photoUrl;
    preview.hidden = false;
    button.disabled = false;
  }

  // Fetch a bundled sample photo as a Blob and make it current.
  async function useSample(url) {
    try {
      const response = await site.request(url);
      const blob = await response.blob();
      setPhoto(blob, url.split("/").pop() || "photo.jpg");
    } catch (err) {
      site.showError(errorBox, err);
    }
  }

  // Show the strength slider's value next to it.
  function showStrength() {
    strengthValue.value = Number(strength.value).toFixed(2);
    strengthValue.textContent = strengthValue.value;
  }

  // Post the photo and options, then show the stylized PNG.
  async function stylize() {
    if (!state.photo) {
      return;
    }
    const checked = document.querySelector('input[name="style"]:checked');
    const form = new FormData();
    form.append("image", state.photo, state.photoName);
    form.append("style", checked ? checked.value : "");
    form.append("strength", strength.value);
    form.append("preserve_colors", preserve.checked ? "true" : "false");
    button.disabled = true;
    site.clearError(errorBox);
    status.textContent = "Stylizing…";
    try {
      const response = await site.request("/api/stylize", { method: "POST", body: form });
      showResult(await response.blob());
      status.textContent = "Done.";
    } catch (err) {
      status.textContent = "";
      site.showError(errorBox, err);
    } finally {
      button.disabled = !state.photo;
    }
  }

  // Show a result Blob, point the download link at it and reset the share controls.
  function showResult(blob) {
    if (state.resultUrl) {
      URL.revokeObjectURL(state.resultUrl);
    }
    state.result = blob;
    state.resultUrl = URL.createObjectURL(blob);
    result.src = state.resultUrl;
    download.href = state.resultUrl;
    shareButton.disabled = false;
    shareStatus.textContent = "";
    resultSection.hidden = false;
  }

  // Share the current result to the gallery.
  async function share() {
    if (!state.result) {
      return;
    }
    const checked = document.querySelector('input[name="style"]:checked');
    const form = new FormData();
    form.append("image", state.result, "stylized.png");
    form.append("caption", caption.value);
    form.append("style", checked ? checked.value : "");
    shareButton.disabled = true;
    site.clearError(errorBox);
    shareStatus.textContent = "Sharing…";
    try {
      const response = await site.request("/api/gallery", { method: "POST", body: form });
      await response.json();
      site.showShared(shareStatus);
    } catch (err) {
      shareStatus.textContent = "";
      shareButton.disabled = false;
      site.showError(errorBox, err);
    }
  }

  picker.addEventListener("change", () => {
    if (picker.files && picker.files[0]) {
      setPhoto(picker.files[0], picker.files[0].name);
    }
  });
  // Drag and drop: highlight the zone while a file hovers over it.
  ["dragenter", "dragover"].forEach((type) => {
    drop.addEventListener(type, (event) => {
      event.preventDefault();
      drop.classList.add("dragging");
    });
  });
  ["dragleave", "dragend"].forEach((type) => {
    drop.addEventListener(type, () => drop.classList.remove("dragging"));
  });
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("dragging");
    const files = event.dataTransfer && event.dataTransfer.files;
    if (files && files[0]) {
      setPhoto(files[0], files[0].name);
    }
  });
  document.querySelectorAll("button.sample").forEach((sample) => {
    sample.addEventListener("click", () => useSample(sample.dataset.url));
  });
  strength.addEventListener("input", showStrength);
  button.addEventListener("click", stylize);
  shareButton.addEventListener("click", share);
  showStrength();
})();
