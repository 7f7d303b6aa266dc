// How responsive the main thread stays while work runs: the longest gap between timer ticks.
(function (parity) {
  'use strict';
  const TICK_MS = 5;

  /** Run `work()` while a main-thread timer ticks; returns {value, responsiveness}. */
  async function whileMeasuring(work) {
    const started = performance.now();
    let last = started;
    let longest = 0;
    let ticks = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      longest = Math.max(longest, now - last);
      last = now;
      ticks++;
    }, TICK_MS);
    try {
      const value = await work();
      const ended = performance.now();
      longest = Math.max(longest, ended - last);
      return { value, responsiveness: { longestGapMs: longest, ticks, durationMs: ended - started, tickMs: TICK_MS } };
    } finally {
      clearInterval(timer);
    }
  }

  parity.responsiveness = { whileMeasuring };
})(self.parity = self.parity || {});
