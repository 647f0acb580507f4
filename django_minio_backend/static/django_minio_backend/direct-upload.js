/* Direct browser uploads for django-minio-backend: plain JavaScript, no build step.
 *
 * Each .dmb-direct-upload element (rendered by DirectUploadWidget) wraps a file
 * input. A chosen file goes straight to the bucket: one presigned POST, or parts
 * through presigned PUT URLs that Django hands out in batches. Then Django
 * finalizes it and the signed answer goes into the hidden input; the file input
 * is emptied, so the form itself never carries the file.
 *
 * Resume: a multipart ticket is kept in localStorage under the field, the
 * file's name, size and date and a SHA-256 of its first and last MiB; choosing
 * the same file again (after a reload or a lost connection) asks which parts the
 * server holds and sends only the others. Another file that shares name, size and
 * date has another digest: it is uploaded afresh, never mixed with this one.
 *
 * Events on the .dmb-direct-upload element: "dmb:progress" (detail: loaded,
 * total), "dmb:done" (detail: name, size), "dmb:error" (detail: message).
 */
(function () {
  "use strict";

  var PARALLEL = 3;
  var FINGERPRINT = 1024 * 1024; // bytes hashed at each end of a file for its resume key
  var FINALIZE_WAIT = 5000; // ms between finalize attempts while another finalize of the ticket runs
  var FINALIZE_TRIES = 24;

  function csrfToken(root) {
    var form = root.closest("form");
    var input = form && form.querySelector("input[name=csrfmiddlewaretoken]");
    if (input) return input.value;
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function UploadError(message, status, busy) {
    this.message = message;
    this.status = status || 0;
    this.busy = !!busy; // another finalize of the ticket holds it: wait, do not upload again
  }

  function hex(buffer) {
    return Array.prototype.map.call(new Uint8Array(buffer), function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function wait(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  function Upload(root) {
    this.root = root;
    this.input = root.querySelector("input[type=file]");
    this.value = root.querySelector(".dmb-direct-value");
    this.status = root.querySelector(".dmb-direct-status");
    this.progress = root.querySelector(".dmb-direct-progress");
    this.message = root.querySelector(".dmb-direct-message");
    this.cancelButton = root.querySelector(".dmb-direct-cancel");
    this.retryButton = root.querySelector(".dmb-direct-retry");
    this.field = root.dataset.field;
    this.requests = [];
    this.busy = false;
    this.cancelled = false;
    var self = this;
    this.input.addEventListener("change", function () {
      if (self.input.files.length) self.start(self.input.files[0]);
    });
    this.cancelButton.addEventListener("click", function () { self.cancel(); });
    this.retryButton.addEventListener("click", function () { if (self.file) self.start(self.file); });
    var form = root.closest("form");
    if (form) {
      form.addEventListener("submit", function (event) {
        if (self.busy) {
          event.preventDefault();
          self.show("Wait until the upload has finished.");
        }
      });
    }
  }

  Upload.prototype.show = function (text) {
    this.status.hidden = false;
    this.message.textContent = text;
  };

  Upload.prototype.emit = function (name, detail) {
    this.root.dispatchEvent(new CustomEvent("dmb:" + name, { detail: detail, bubbles: true }));
  };

  /* A promise of the key the file's ticket is kept under; null (no resume) without crypto.subtle,
   * which browsers offer only to secure contexts (https, localhost, 127.0.0.1). */
  Upload.prototype.resumeKey = function (file) {
    var base = "dmb-direct:" + this.field + ":" + file.name + ":" + file.size + ":" + file.lastModified;
    var subtle = window.crypto && window.crypto.subtle;
    if (!subtle) return Promise.resolve(null);
    var head = file.slice(0, FINGERPRINT);
    var tail = file.slice(Math.max(FINGERPRINT, file.size - FINGERPRINT));
    return new Blob([head, tail]).arrayBuffer()
      .then(function (bytes) { return subtle.digest("SHA-256", bytes); })
      .then(function (digest) { return base + ":" + hex(digest); }, function () { return null; });
  };

  Upload.prototype.post = function (url, payload) {
    var self = this;
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      self.requests.push(xhr);
      xhr.open("POST", url);
      xhr.setRequestHeader("Content-Type", "application/json");
      xhr.setRequestHeader("X-CSRFToken", csrfToken(self.root));
      xhr.onload = function () {
        var body = {};
        try { body = JSON.parse(xhr.responseText || "{}"); } catch (e) { body = {}; }
        if (xhr.status >= 200 && xhr.status < 300) resolve(body);
        else reject(new UploadError(body.error || "the server answered " + xhr.status, xhr.status, body.busy));
      };
      xhr.onerror = function () { reject(new UploadError("the connection was lost")); };
      xhr.onabort = function () { reject(new UploadError("cancelled")); };
      xhr.send(JSON.stringify(payload));
    });
  };

  /* Send body to url with method; onProgress(loaded) as bytes go out. */
  Upload.prototype.send = function (method, url, body, onProgress) {
    var self = this;
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      self.requests.push(xhr);
      xhr.open(method, url);
      xhr.upload.onprogress = function (event) { onProgress(event.loaded); };
      xhr.onload = function () {
        if (xhr.status >= 200 && xhr.status < 300) resolve();
        else reject(new UploadError("the storage server answered " + xhr.status, xhr.status));
      };
      xhr.onerror = function () { reject(new UploadError("the connection to the storage server was lost")); };
      xhr.onabort = function () { reject(new UploadError("cancelled")); };
      xhr.send(body);
    });
  };

  Upload.prototype.report = function (loaded, total) {
    this.progress.max = total || 1;
    this.progress.value = loaded;
    var percent = total ? Math.floor((100 * loaded) / total) : 100;
    this.show("Uploading… " + percent + "%");
    this.emit("progress", { loaded: loaded, total: total });
  };

  /* Abort every request still open. A run left sending (Retry, or a file chosen again) would
   * otherwise keep uploading parts beside the new run: SeaweedFS keeps each copy of a part. */
  Upload.prototype.abortAll = function () {
    var requests = this.requests;
    this.requests = [];
    requests.forEach(function (xhr) { xhr.abort(); });
  };

  Upload.prototype.start = function (file) {
    var self = this;
    this.abortAll();
    var run = (this.run = {}); // what an older run's late callbacks compare against, to stay silent
    this.file = file;
    this.busy = true;
    this.cancelled = false;
    this.value.value = "";
    this.root.classList.remove("dmb-error");
    this.retryButton.hidden = true;
    this.cancelButton.hidden = false;
    this.report(0, file.size);
    this.key = null;
    var key = null;
    var saved = null;
    var started = this.resumeKey(file).then(function (found) {
      if (self.run !== run) throw new UploadError("superseded");
      key = self.key = found;
      try { saved = key ? JSON.parse(localStorage.getItem(key) || "null") : null; } catch (e) { saved = null; }
      return saved || self.newTicket(file, key);
    });
    return started
      .then(function (ticket) {
        if (self.run !== run) throw new UploadError("superseded");
        self.ticket = ticket;
        if (ticket.post) return self.sendPost(file, ticket);
        return self.sendParts(file, ticket, run).catch(function (error) {
          if (self.run === run && saved && error.status >= 400 && error.status < 500 && error.status !== 409) {
            if (key) localStorage.removeItem(key); // expired or finished elsewhere: start afresh
            saved = null;
            return self.newTicket(file, key).then(function (fresh) {
              self.ticket = fresh;
              return self.sendParts(file, fresh, run);
            });
          }
          throw error;
        });
      })
      .then(function () {
        if (self.run !== run) throw new UploadError("superseded");
        self.show("Checking the upload…");
        return self.finalize(run, FINALIZE_TRIES);
      })
      .then(function (done) {
        if (self.run !== run) return;
        if (key) localStorage.removeItem(key);
        self.value.value = done.value;
        self.input.value = ""; // the form must not send the file body to Django
        self.busy = false;
        self.cancelButton.hidden = true;
        self.progress.value = self.progress.max;
        self.show("Uploaded: " + done.name);
        self.emit("done", { name: done.name, size: done.size });
      })
      .catch(function (error) {
        if (self.run !== run) return; // a newer run owns the widget now
        self.busy = false;
        self.cancelButton.hidden = true;
        if (self.cancelled) {
          self.show("Upload cancelled.");
          return;
        }
        self.root.classList.add("dmb-error");
        self.retryButton.hidden = false;
        self.show("Upload failed: " + error.message);
        self.emit("error", { message: error.message, status: error.status });
      });
  };

  /* Finalize the ticket; while another finalize of it still runs (a Retry after a lost answer), wait
   * and ask again: uploading the file afresh would leave the other finalize's file behind. */
  Upload.prototype.finalize = function (run, tries) {
    var self = this;
    return this.post(this.root.dataset.finalizeUrl, { ticket: this.ticket.ticket, field: this.field })
      .catch(function (error) {
        if (!error.busy || tries <= 1 || self.cancelled || self.run !== run) throw error;
        self.show("The upload is being checked…");
        return wait(FINALIZE_WAIT).then(function () { return self.finalize(run, tries - 1); });
      });
  };

  Upload.prototype.newTicket = function (file, key) {
    return this.post(this.root.dataset.ticketUrl, {
      field: this.field,
      name: file.name,
      size: file.size,
      content_type: file.type || "application/octet-stream",
    }).then(function (ticket) {
      if (!ticket.post && key) localStorage.setItem(key, JSON.stringify(ticket));
      return ticket;
    });
  };

  Upload.prototype.sendPost = function (file, ticket) {
    var self = this;
    var form = new FormData();
    Object.keys(ticket.post.fields).forEach(function (name) { form.append(name, ticket.post.fields[name]); });
    form.append("file", file); // last: S3 ignores fields after the file
    return this.send("POST", ticket.post.url, form, function (loaded) {
      self.report(Math.min(loaded, file.size), file.size);
    });
  };

  Upload.prototype.sendParts = function (file, ticket, run) {
    var self = this;
    var size = ticket.part_size;
    var inFlight = {};
    var finished = 0;
    function partLength(number) { return Math.min(size, file.size - (number - 1) * size); }
    function update() {
      var loaded = finished;
      Object.keys(inFlight).forEach(function (n) { loaded += inFlight[n]; });
      self.report(loaded, file.size);
    }
    function round() {
      if (self.cancelled) return Promise.reject(new UploadError("cancelled"));
      if (self.run !== run) return Promise.reject(new UploadError("superseded"));
      return self.post(self.root.dataset.partsUrl, { ticket: ticket.ticket, field: self.field }).then(function (answer) {
        if (answer.ticket) {
          // Renewed: an upload may outlast its ticket while its parts are on the server.
          ticket.ticket = answer.ticket;
          if (!self.cancelled && self.key) localStorage.setItem(self.key, JSON.stringify(ticket));
        }
        finished = 0;
        answer.uploaded.forEach(function (n) { finished += partLength(n); });
        update();
        if (!answer.remaining) return null;
        var queue = Object.keys(answer.urls).map(Number).sort(function (a, b) { return a - b; });
        function worker() {
          var number = queue.shift();
          if (number === undefined || self.cancelled || self.run !== run) return Promise.resolve();
          var start = (number - 1) * size;
          inFlight[number] = 0;
          return self
            .send("PUT", answer.urls[String(number)], file.slice(start, start + partLength(number)), function (loaded) {
              inFlight[number] = loaded;
              update();
            })
            .then(function () {
              delete inFlight[number];
              finished += partLength(number);
              update();
              return worker();
            });
        }
        var workers = [];
        for (var i = 0; i < PARALLEL; i++) workers.push(worker());
        return Promise.all(workers).then(round, function (error) {
          // One part failed: the others stop too, or they would still be sending after Retry.
          queue.length = 0;
          if (self.run === run) self.abortAll();
          throw error;
        });
      });
    }
    return round();
  };

  Upload.prototype.cancel = function () {
    this.cancelled = true;
    this.abortAll();
    if (this.key) localStorage.removeItem(this.key);
    if (this.ticket) {
      this.post(this.root.dataset.cancelUrl, { ticket: this.ticket.ticket, field: this.field }).catch(function () {});
    }
    this.input.value = "";
    this.value.value = "";
  };

  function init(scope) {
    (scope || document).querySelectorAll(".dmb-direct-upload").forEach(function (root) {
      if (!root.dmbUpload) root.dmbUpload = new Upload(root);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", function () { init(); });
  else init();
  window.djangoMinioDirectUpload = { init: init };
})();
