/* The moderation queue, faster: keyboard shortcuts and buttons that act without a reload.
   The pages work without this file; it only adds to what the server renders. */

// The views' counts, live: the server's stream of the queue's counts (/admin/stream), open
// while the tab is shown. A view that grows says so; its rows change on a reload, not under
// the moderator's eyes.
(function () {
  "use strict";

  var counts = document.querySelectorAll("[data-count]");
  if (!counts.length || !window.EventSource) return;
  var fresh = document.querySelector("[data-fresh]");
  var view = fresh && fresh.dataset.fresh;
  var last = {};
  var source = null;
  counts.forEach(function (element) {
    last[element.dataset.count] = Number(element.textContent);
  });

  function heard(event) {
    var now = JSON.parse(event.data);
    counts.forEach(function (element) {
      var n = now[element.dataset.count];
      if (typeof n === "number") element.textContent = String(n);
    });
    if (fresh && now[view] > last[view]) fresh.firstElementChild.hidden = false;
    last = now;
  }

  function open() {
    if (source) return;
    source = new EventSource("/admin/stream");
    source.addEventListener("queue", heard);
  }

  function shut() {
    if (source) source.close();
    source = null;
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) shut();
    else open();
  });
  addEventListener("pagehide", shut);
  if (!document.hidden) open();
})();

(function () {
  "use strict";

  var queue = document.querySelector("form[data-queue]");
  if (!queue) return;
  var help = document.getElementById("keys");
  var live = queue.querySelector("[data-live]");
  var ticked = queue.querySelector("[data-selected]");
  var tickAll = queue.querySelector("[data-select-all]");
  var bulkButtons = queue.querySelectorAll(".bulk button[type=submit]");
  var rows = Array.prototype.slice.call(queue.querySelectorAll(".item"));
  var current = -1;
  var LABELS = { approve: "Approved", hide: "Hid", delete: "Deleted", restore: "Restored" };

  // What needs this script shows up only with it.
  queue.querySelectorAll("[data-help], .bulk .all").forEach(function (element) {
    element.hidden = false;
  });

  function say(text) {
    live.textContent = text;
  }

  function move(index, stay) {
    if (!rows.length) return;
    index = Math.max(0, Math.min(rows.length - 1, index));
    if (rows[current]) rows[current].classList.remove("is-current");
    current = index;
    rows[current].classList.add("is-current");
    if (!stay) rows[current].scrollIntoView({ block: "nearest" });
  }

  function rowOf(id) {
    return queue.querySelector('.item[data-id="' + id + '"]');
  }

  // A row's buttons are those that would change its status (the server rendered them so).
  function showStatus(row, status) {
    row.dataset.status = status;
    row.querySelector("[data-status-label]").textContent = status;
    row.querySelectorAll("button[data-from]").forEach(function (button) {
      button.hidden = button.dataset.from.split(" ").indexOf(status) < 0;
    });
  }

  function act(name) {
    var row = rows[current];
    if (!row) return;
    if (row.classList.contains("is-busy")) {
      say("Still saving #" + row.dataset.id + "…");
      return;
    }
    var button = row.querySelector('button[data-action="' + name + '"]');
    if (!button || button.hidden) {
      say("A " + row.dataset.status + " comment cannot be changed that way.");
      return;
    }
    queue.requestSubmit(button);
  }

  function countTicked() {
    var count = queue.querySelectorAll(".pick:checked").length;
    ticked.textContent = count ? count + " ticked:" : "None ticked";
    bulkButtons.forEach(function (button) {
      button.disabled = count === 0;
    });
    if (tickAll) tickAll.checked = count > 0 && count === rows.length;
  }

  function tick() {
    var box = rows[current] && rows[current].querySelector(".pick");
    if (!box) return;
    box.checked = !box.checked;
    countTicked();
  }

  // A row's own button posts in the background and the cursor moves on at once, so keys can
  // follow each other without waiting; the row stays, dimmed, with its new status once saved.
  // Bulk buttons post the ordinary way (the page reloads).
  queue.addEventListener("submit", function (event) {
    var button = event.submitter;
    if (!button || button.name !== "row_action") return;
    event.preventDefault();
    var row = button.closest(".item");
    var body = new URLSearchParams();
    body.append("csrf", queue.elements.csrf.value);
    body.append("next", queue.elements.next.value);
    body.append("row_action", button.value);
    row.classList.add("is-busy");
    if (rows.indexOf(row) === current) move(current + 1);
    fetch(queue.getAttribute("action"), {
      method: "POST",
      body: body,
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    })
      .then(function (response) {
        return response.json().then(function (data) {
          if (!response.ok) throw new Error(data.detail || "That did not work.");
          return data;
        });
      })
      .then(function (data) {
        if (!data.changed.length) {
          say("Nothing changed.");
          return;
        }
        data.changed.forEach(function (changed) {
          var changedRow = rowOf(changed.id);
          if (!changedRow) return;
          showStatus(changedRow, changed.status);
          changedRow.classList.add("is-done");
        });
        say(LABELS[button.dataset.action] + " #" + row.dataset.id + ".");
      })
      .catch(function (error) {
        say("#" + row.dataset.id + ": " + (error.message || "the server did not answer."));
      })
      .finally(function () {
        row.classList.remove("is-busy");
      });
  });

  queue.addEventListener("change", function (event) {
    if (event.target === tickAll) {
      queue.querySelectorAll(".pick").forEach(function (box) {
        box.checked = tickAll.checked;
      });
    }
    countTicked();
  });

  queue.addEventListener("click", function (event) {
    var row = event.target.closest(".item");
    if (row) move(rows.indexOf(row), true);
  });

  if (help) {
    help.querySelector("[data-close]").addEventListener("click", function () {
      help.close();
    });
    queue.querySelector("[data-help]").addEventListener("click", function () {
      help.showModal();
    });
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    var typing = event.target.closest("input:not([type=checkbox]), textarea, select");
    if (typing) return;
    if (help && help.open) {
      if (event.key === "?") help.close();
      return;
    }
    switch (event.key) {
      case "j": move(current + 1); break;
      case "k": move(current - 1); break;
      case "a": act("approve"); break;
      case "h": act("hide"); break;
      case "d": act("delete"); break;
      case "r": act("restore"); break;
      case "x": tick(); break;
      case "o":
        if (rows[current]) window.location.href = rows[current].dataset.href;
        break;
      case "?":
        if (help) help.showModal();
        break;
      default:
        return;
    }
    event.preventDefault();
  });

  countTicked();
  move(0, true);
})();
