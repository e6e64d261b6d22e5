// The Custom style page: preview the two images, keep the iteration count in step with
// the algorithm, and submit the job to /api/jobs, then open the job's page.
"use strict";

(function () {
  const site = window.fastnst;
  const form = document.getElementById("job-form");
  const algorithm = document.getElementById("algorithm");
  const iterations = document.getElementById("iterations");
  const submit = document.getElementById("submit-job");
  const errorBox = document.getElementById("error");

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

  // Submit the form as multipart and go to the new job's page.
  async function submitJob(event) {
    event.preventDefault();
    if (!form.reportValidity()) {
      return;
    }
    site.clearError(errorBox);
    submit.disabled = true;
    try {
      const response = await site.request("/api/jobs", { method: "POST", body: new FormData(form) });
      const job = await response.json();
      location.assign("/jobs/" + encodeURIComponent(job.id));
    } catch (err) {
      site.showError(errorBox, err);
      submit.disabled = false;
    }
  }

  form.querySelectorAll("input[type=file][data-preview]").forEach((input) => {
    input.addEventListener("change", () => previewFile(input));
  });
  algorithm.addEventListener("change", useDefaultIterations);
  form.addEventListener("submit", submitJob);
})();
