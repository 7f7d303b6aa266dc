// Proving a repro (harness/explain/repro.py): open its index.html in a frame of this page and wait for the
// result it sets (window.reproResult), as a user opening it in this browser would see it.
(function (parity) {
  'use strict';

  /** The repro at `url`'s result, within `timeoutMs`. */
  function openRepro(url, timeoutMs) {
    return new Promise((resolve, reject) => {
      const frame = document.createElement('iframe');
      frame.style.cssText = 'width: 1000px; height: 700px';
      const started = performance.now();
      const poll = () => {
        const result = frame.contentWindow && frame.contentWindow.reproResult;
        if (result) {
          frame.remove();
          resolve(result);
        } else if (performance.now() - started > timeoutMs) {
          frame.remove();
          reject(new Error(`the repro at ${url} gave no result within ${timeoutMs} ms`));
        } else {
          setTimeout(poll, 100);
        }
      };
      frame.addEventListener('load', poll);
      frame.src = url;
      document.body.appendChild(frame);
    });
  }

  parity.repro = { openRepro };
})(self.parity = self.parity || {});
