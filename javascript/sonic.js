/* Client-side helpers of the Sonic tab: AUTOMATIC1111 (gradio 3.41), Forge (4.40) and the
 * standalone app (4.44) load this file unchanged.
 *
 * Presentation only: consent, formats and limits are checked by the Python handlers. Two
 * globals: sonicUi, and switch_to_sonic, which a WebUI's "Send to" buttons call. Elements are
 * found by our own elem_ids and events are caught by delegation
 * on the document, so neither gradio's re-renders nor its DOM differences between versions
 * matter, and nothing waits for the page to finish loading.
 */
(function () {
  "use strict";
  if (window.sonicUi) {
    return; // already installed (a WebUI's "Reload UI" keeps the page's globals)
  }

  function sonicRoot() {
    var app = document.querySelector("gradio-app");
    return (app && app.shadowRoot) || document;
  }

  function sonicById(id) {
    return sonicRoot().querySelector("#" + id);
  }

  function sonicInside(event, id) {
    return event.composedPath().some(function (node) {
      return node && node.id === id;
    });
  }

  function sonicHasFiles(event) {
    var types = event.dataTransfer ? event.dataTransfer.types : [];
    return Array.prototype.indexOf.call(types, "Files") >= 0;
  }

  /* 1. The speech clip's length, and a warning when it is over this installation's limit
   *    (the limit comes from the policy, as a data attribute the Python side writes). */
  function sonicDescribeDuration(seconds, maxSeconds) {
    var text = "Speech clip: " + seconds.toFixed(1) + " s, so the video lasts " +
      seconds.toFixed(1) + " s.";
    if (maxSeconds > 0 && seconds > maxSeconds) {
      text += " This is over the limit of " + maxSeconds + " s here: it will be refused.";
    }
    return text;
  }

  function sonicShowDuration(file) {
    var out = sonicById("sonic_speech_duration");
    if (!out || !file) {
      return;
    }
    var url = URL.createObjectURL(file);
    var probe = new Audio();
    probe.preload = "metadata";
    probe.onloadedmetadata = function () {
      var max = parseFloat(out.getAttribute("data-max-seconds") || "0");
      out.textContent = sonicDescribeDuration(probe.duration, max);
      out.setAttribute("data-seconds", probe.duration.toFixed(2));
      URL.revokeObjectURL(url);
    };
    probe.onerror = function () {
      out.textContent = "This browser cannot read the clip's length; the server checks it.";
      URL.revokeObjectURL(url);
    };
    probe.src = url;
  }

  document.addEventListener("change", function (event) {
    var input = event.target;
    if (sonicInside(event, "sonic_speech") && input.files && input.files.length) {
      sonicShowDuration(input.files[0]);
    }
  }, true);

  document.addEventListener("drop", function (event) {
    if (sonicInside(event, "sonic_speech") && event.dataTransfer.files.length) {
      sonicShowDuration(event.dataTransfer.files[0]);
    }
  }, true);

  /* 2. Drop a file anywhere on the Verify tab, not only on the small upload box: it is handed
   *    to that box's file input, which uploads it and starts the verification. */
  function sonicMarkDropZone(active) {
    var tab = sonicById("sonic_tab_verify");
    if (tab) {
      tab.classList.toggle("sonic-drop-active", active);
    }
  }

  function sonicForwardToVerify(files) {
    var box = sonicById("sonic_verify_file");
    var input = box && box.querySelector("input[type=file]");
    if (!input) {
      // gradio 3.41 repeats a Markdown's id on its inner element: write into the innermost
      var hints = sonicRoot().querySelectorAll("#sonic_verify_hint");
      if (hints.length) {
        hints[hints.length - 1].textContent =
          "Clear the current file (the × on the file box) to drop another.";
      }
      return false;
    }
    var transfer = new DataTransfer();
    transfer.items.add(files[0]);
    input.files = transfer.files;
    input.dispatchEvent(new Event("change", { bubbles: true }));
    return true;
  }

  document.addEventListener("dragover", function (event) {
    if (sonicInside(event, "sonic_tab_verify") && sonicHasFiles(event)) {
      event.preventDefault();
      sonicMarkDropZone(true);
    }
  });

  document.addEventListener("dragleave", function (event) {
    if (!event.relatedTarget || !sonicInside(event, "sonic_tab_verify")) {
      sonicMarkDropZone(false);
    }
  });

  document.addEventListener("drop", function (event) {
    sonicMarkDropZone(false);
    if (!sonicInside(event, "sonic_tab_verify") || sonicInside(event, "sonic_verify_file") ||
        !event.dataTransfer || !event.dataTransfer.files.length) {
      return; // outside the tab, or on the upload box, which takes drops itself
    }
    event.preventDefault();
    sonicForwardToVerify(event.dataTransfer.files);
  });

  /* 3. "Send to Sonic" under a WebUI's result gallery: the host puts the picture into the Sonic
   *    tab, then calls switch_to_<tab>() (as for its own tabs); show our Generate tab. */
  function sonicClickTab(container, title) {
    var buttons = container ? container.querySelectorAll(".tab-nav button") : [];
    Array.prototype.forEach.call(buttons, function (button) {
      if (button.textContent.trim() === title) {
        button.click();
      }
    });
  }

  function sonicShowGenerateTab() {
    sonicClickTab(sonicRoot().querySelector("#tabs"), "Sonic");
    sonicClickTab(sonicById("sonic_tabs"), "Generate");
  }

  window.switch_to_sonic = sonicShowGenerateTab;

  /* 4. "Tell me when it is done": when a run this page was showing ends (done or failed), a
   *    short chime, and a browser notification while the page is in the background. The
   *    status line carries the state (data-state: running, then done or error); it is read
   *    twice a second, which no gradio re-render can hide. A run that ended before the page
   *    opened rings nothing. */
  function sonicNotifyWanted() {
    var box = sonicById("sonic_notify");
    var input = box && box.querySelector("input[type=checkbox]");
    return Boolean(input && input.checked);
  }

  function sonicChime() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) {
      return;
    }
    var audio = new Context();
    [660, 880].forEach(function (frequency, index) {
      var at = audio.currentTime + index * 0.18;
      var tone = audio.createOscillator();
      var volume = audio.createGain();
      tone.frequency.value = frequency;
      volume.gain.setValueAtTime(0.15, at);
      volume.gain.exponentialRampToValueAtTime(0.001, at + 0.3);
      tone.connect(volume).connect(audio.destination);
      tone.start(at);
      tone.stop(at + 0.3);
    });
    setTimeout(function () { audio.close(); }, 1000);
  }

  function sonicTellDone(text) {
    sonicChime();
    var background = document.visibilityState === "hidden" || !document.hasFocus();
    if (background && "Notification" in window && Notification.permission === "granted") {
      new Notification("Sonic", { body: text });
    }
  }

  var sonicLastState = null;
  setInterval(function () {
    var notice = sonicRoot().querySelector("#sonic_status [data-state]");
    var state = notice ? notice.getAttribute("data-state") : null;
    if (sonicLastState === "running" && (state === "done" || state === "error") &&
        sonicNotifyWanted()) {
      sonicTellDone(notice.textContent.trim());
    }
    sonicLastState = state;
  }, 500);

  document.addEventListener("change", function (event) {
    // ticking the box is the user's gesture a browser wants before it asks for permission
    if (sonicInside(event, "sonic_notify") && event.target.checked &&
        "Notification" in window && Notification.permission === "default") {
      Notification.requestPermission();
    }
  }, true);

  window.sonicUi = {
    describeDuration: sonicDescribeDuration,
    forwardToVerify: sonicForwardToVerify,
    showGenerateTab: sonicShowGenerateTab,
  };
})();
