// Shared helpers for every fastnst page, exported on window.fastnst.
"use strict";

(function () {
  // Show a message in an error area (role="alert"); an empty message hides the area.
  function showError(el, detailOrError) {
    if (!el) {
      return;
    }
    let text = "";
    if (detailOrError instanceof Error) {
      text = detailOrError.message;
    } else if (detailOrError !== undefined && detailOrError !== null) {
      text = String(detailOrError);
    }
    el.textContent = text;
    el.hidden = text === "";
  }

  // Hide an error area again.
  function clearError(el) {
    showError(el, "");
  }

  // Turn a failed response into an Error carrying the API's {"detail": ...} text,
  // falling back to the HTTP status text when the body is not JSON.
  async function apiError(response) {
    let detail = "";
    try {
      const body = await response.json();
      if (body && typeof body.detail === "string") {
        detail = body.detail;
      } else if (body && Array.isArray(body.detail)) {
        // FastAPI's validation errors: a list of {loc, msg}.
        detail = body.detail.map((d) => d.msg || String(d)).join("; ");
      }
    } catch (err) {
      // Not JSON: use the status line below.
    }
    if (!detail) {
      detail = (response.status + " " + (response.statusText || "Request failed")).trim();
    }
    const error = new Error(detail);
    error.status = response.status;
    return error;
  }

  // Format a duration in seconds for people: "12 s", "3 min 05 s", "1 h 02 min".
  function formatSeconds(s) {
    if (typeof s !== "number" || !isFinite(s) || s < 0) {
      return "";
    }
    const total = Math.round(s);
    if (total < 60) {
      return total + " s";
    }
    const minutes = Math.floor(total / 60);
    const seconds = total % 60;
    if (minutes < 60) {
      return minutes + " min " + String(seconds).padStart(2, "0") + " s";
    }
    const hours = Math.floor(minutes / 60);
    return hours + " h " + String(minutes % 60).padStart(2, "0") + " min";
  }

  // fetch() with the site's defaults: same-origin cookies (they identify the owner of
  // shared items); throws the API's detail on a non-2xx status.
  async function request(url, options) {
    const response = await fetch(url, Object.assign({ credentials: "same-origin" }, options || {}));
    if (!response.ok) {
      throw await apiError(response);
    }
    return response;
  }

  // Show "Shared." and a link to the gallery in a share-status paragraph.
  function showShared(el) {
    el.textContent = "Shared. ";
    const link = document.createElement("a");
    link.id = "gallery-link";
    link.href = "/gallery";
    link.textContent = "See it in the gallery";
    el.appendChild(link);
  }

  window.fastnst = { showError, clearError, apiError, formatSeconds, request, showShared };
})();
