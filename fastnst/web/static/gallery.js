// The gallery page: delete your own shared items.
"use strict";

(function () {
  const site = window.fastnst;
  const errorBox = document.getElementById("error");
  const grid = document.getElementById("gallery-grid");
  const empty = document.getElementById("gallery-empty");

  // Delete one item on the server, then remove its card.
  async function deleteItem(button) {
    const id = button.dataset.id;
    button.disabled = true;
    site.clearError(errorBox);
    try {
      await site.request("/api/gallery/" + encodeURIComponent(id), { method: "DELETE" });
      const item = document.getElementById("item-" + id);
      if (item) {
        item.remove();
      }
      if (!grid.querySelector("li")) {
        grid.hidden = true;
        empty.hidden = false;
      }
    } catch (err) {
      button.disabled = false;
      site.showError(errorBox, err);
    }
  }

  grid.addEventListener("click", (event) => {
    const button = event.target.closest("button.delete-item");
    if (button) {
      deleteItem(button);
    }
  });
})();
