// The Custom style page: preview the chosen images, keep the iteration count in step with
// the algorithm, and submit a job (/api/jobs, or /api/jobs/train to train a fast model),
// then open the job's page.
"use strict";

(function () {
  const site = window.fastnst;
  const form = document.getElementById("job-form");
  const algorithm = document.getElementById("algorithm");
  const iterations = document.getElementById("iterations");

  // Show a small preview of the file chosen in an input with data-preview="<img id>".
  function previewFile(input) {
    const img = document.getElementById(input.dataset.preview);
    if (!img) {
      return;
    }
    if (img.src.startsWith("blob:")) {
      URL.revokeObjectURL(img.src);
    }
    const file = input.files && input.files[0];
    if (file) {
      img.src = URL.createObjectURL(file);
      img.hidden = false;
    } else {
      img.removeAttribute("src");
      img.hidden = true;
    }
  }

  // Put the chosen algorithm's default iteration count into the iterations field.
  function useDefaultIterations() {
    const value = iterations.dataset["default" + algorithm.value.charAt(0).toUpperCase() +
      algorithm.value.slice(1)];
    if (value) {
      iterations.value = value;
    }
  }

  // Submit a job form as multipart to its action URL and go to the new job's page.
  async function submitJob(event) {
    event.preventDefault();
    const jobForm = event.currentTarget;
    const button = jobForm.querySelector("button[type=submit]");
    const formError = jobForm.querySelector(".error");
    if (!jobForm.reportValidity()) {
      return;
    }
    site.clearError(formError);
    button.disabled = true;
    try {
      const response = await site.request(jobForm.getAttribute("action"),
        { method: "POST", body: new FormData(jobForm) });
      const job = await response.json();
      location.assign("/jobs/" + encodeURIComponent(job.id));
    } catch (err) {
      site.showError(formError, err);
      button.disabled = false;
    }
  }

  document.querySelectorAll("input[type=file][data-preview]").forEach((input) => {
    input.addEventListener("change", () => previewFile(input));
  });
  algorithm.addEventListener("change", useDefaultIterations);
  form.addEventListener("submit", submitJob);
  document.getElementById("train-form").addEventListener("submit", submitJob);
})();
