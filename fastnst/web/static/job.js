// The job page: poll /api/jobs/{id} every second until the job ends, show progress and
// the preview, allow cancelling, and show and share the result.
"use strict";

(function () {
  const site = window.fastnst;
  const root = document.querySelector("[data-job-id]");
  const jobId = root.dataset.jobId;
  const apiUrl = "/api/jobs/" + encodeURIComponent(jobId);
  const FINAL = ["done", "failed", "cancelled"];
  const POLL_MS = 1000;

  const el = (id) => document.getElementById(id);
  const statusText = el("job-status");
  const queuePosition = el("queue-position");
  const kind = el("job-kind");
  const resumed = el("job-resumed");
  const model = el("job-model");
  const modelLink = el("job-model-link");
  const progress = el("job-progress");
  const iterationText = el("job-iteration");
  const elapsedText = el("job-elapsed");
  const etaText = el("job-eta");
  const preview = el("job-preview");
  const jobError = el("job-error");
  const cancelButton = el("cancel-job");
  const resultSection = el("job-result");
  const resultImage = el("job-result-image");
  const download = el("job-download");
  const caption = el("caption");
  const shareButton = el("share");
  const shareStatus = el("share-status");
  const errorBox = el("error");

  let lastIteration = null;
  let timer = null;

  // Update the page from one job JSON object.
  function render(job) {
    statusText.textContent = job.status;
    statusText.dataset.status = job.status;
    const queued = job.status === "queued" && job.queue_position !== null &&
      job.queue_position !== undefined;
    queuePosition.hidden = !queued;
    queuePosition.textContent = queued ? "Position in queue: " + job.queue_position : "";
    kind.hidden = job.algorithm !== "train";
    resumed.hidden = !(job.resumed_from > 0);
    resumed.textContent = job.resumed_from > 0 ?
      "Its worker stopped; training resumed from step " + job.resumed_from + "." : "";
    progress.value = Math.max(0, Math.min(1, job.progress || 0));
    iterationText.textContent = (job.iteration || 0) + " / " + (job.iterations || 0);
    elapsedText.textContent = site.formatSeconds(job.elapsed || 0);
    const eta = typeof job.eta === "number" && job.status === "running" ? site.formatSeconds(job.eta) : "";
    etaText.textContent = eta ? "about " + eta + " left" : "";
    // Refresh the preview only when a new iteration was written (the URL stays the same).
    if (job.preview_url && job.status !== "done" && job.iteration !== lastIteration) {
      preview.src = job.preview_url + "?t=" + job.iteration;
      preview.hidden = false;
      lastIteration = job.iteration;
    }
    site.showError(jobError, job.status === "failed" ? job.error || "The job failed." : "");
    cancelButton.hidden = !(job.status === "queued" || job.status === "running");
    if (job.status === "done" && job.result_url) {
      preview.hidden = true;
      if (resultImage.getAttribute("src") !== job.result_url) {
        resultImage.src = job.result_url;
        download.href = job.result_url;
      }
      model.hidden = !job.model;
      if (job.model) {
        modelLink.href = "/?style=" + encodeURIComponent(job.model);
      }
      resultSection.hidden = false;
    }
  }

  // Fetch the job once; keep polling while it is not finished.
  async function poll() {
    clearTimeout(timer);
    let job;
    try {
      const response = await site.request(apiUrl);
      job = await response.json();
    } catch (err) {
      if (err.status === 404) {
        statusText.textContent = "unknown";
        cancelButton.hidden = true;
        site.showError(jobError, "No such job");
        return;
      }
      // A network hiccup: say so and try again.
      site.showError(errorBox, err);
      timer = setTimeout(poll, POLL_MS);
      return;
    }
    site.clearError(errorBox);
    render(job);
    if (!FINAL.includes(job.status)) {
      timer = setTimeout(poll, POLL_MS);
    }
  }

  // Ask the server to cancel the job, then poll once more to show its new state.
  async function cancel() {
    cancelButton.disabled = true;
    try {
      await (await site.request(apiUrl, { method: "DELETE" })).json();
    } catch (err) {
      site.showError(errorBox, err);
    } finally {
      cancelButton.disabled = false;
    }
    poll();
  }

  // Share the finished result to the gallery (the server already has the image).
  async function share() {
    const form = new FormData();
    form.append("job_id", jobId);
    form.append("caption", caption.value);
    shareButton.disabled = true;
    site.clearError(errorBox);
    shareStatus.textContent = "Sharing…";
    try {
      await (await site.request("/api/gallery", { method: "POST", body: form })).json();
      site.showShared(shareStatus);
    } catch (err) {
      shareStatus.textContent = "";
      shareButton.disabled = false;
      site.showError(errorBox, err);
    }
  }

  cancelButton.addEventListener("click", cancel);
  shareButton.addEventListener("click", share);
  poll();
})();
