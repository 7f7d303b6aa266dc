// Where an exception was thrown, read from its stack: in tfjs' code (a bundle served under /tfjs/),
// in the harness' page code (/web/), or in a script the user gave (--custom-js, served under
// /files/). The verdict tells "tfjs cannot run this model" (fail) from "the harness broke" (error)
// by it. Chromium writes frames as "at f (URL:line:col)", Firefox and WebKit as "f@URL:line:col".
(function (parity) {
  'use strict';
  const PLACES = [['/tfjs/', 'tfjs'], ['/web/', 'harness'], ['/files/', 'user script']];
  const FRAME_URL = /(?:https?|blob):\/\/[^\s()]+?(?=:\d+:\d+)/;

  /**
   * The place ('tfjs', 'harness', 'user script' or 'unknown') and the path of the script that threw `error`; an
   * error the page's code wrapped (`new Error(message, { cause })`) was thrown where its cause was.
   */
  function thrownIn(error) {
    if (error && typeof error.thrownIn === 'string') return { place: error.thrownIn, frame: error.thrownFrame || '' };
    if (error && error.cause instanceof Error) return thrownIn(error.cause);
    const stack = error instanceof Error && typeof error.stack === 'string' ? error.stack : '';
    const heading = `${error && error.name}: ${error && error.message}`;
    const frames = (stack.startsWith(heading) ? stack.slice(heading.length) : stack).split('\n');
    for (const frame of frames) {
      const url = (frame.match(FRAME_URL) || [])[0];
      if (!url) continue;
      const path = url.replace(/^[a-z]+:\/\/[^/]+/, '');
      const found = PLACES.find(([prefix]) => path.startsWith(prefix));
      return { place: found ? found[1] : 'unknown', frame: path.split('?')[0] };
    }
    return { place: 'unknown', frame: '' };
  }

  /** An Error carrying `message` and the place an earlier error (from a worker) was thrown in. */
  function rethrown(message, place, frame = '') {
    const error = new Error(message);
    error.thrownIn = place;
    error.thrownFrame = frame;
    return error;
  }

  parity.errors = { thrownIn, rethrown };
})(self.parity = self.parity || {});
