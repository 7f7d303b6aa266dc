"""Signals during a run (``run.interrupt``), without a browser: a SIGINT that lands where Python drops exceptions
(a finalizer, a weakref callback of the garbage collector) is not lost."""

import os
import signal
import time

import pytest

from harness.run.interrupt import interruptible


class TakesTheSignal:
    """Its finalizer sends SIGINT and is still running when the handler runs: raised there, the KeyboardInterrupt
    would be printed as "Exception ignored" and dropped."""

    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)
        sum(range(1000))


def test_a_signal_landing_in_a_finalizer_still_stops_the_run():
    with pytest.raises(KeyboardInterrupt, match="SIGINT"), interruptible():
        TakesTheSignal()  # collected at once
        time.sleep(2)


def _signal_and_work() -> None:
    os.kill(os.getpid(), signal.SIGINT)
    sum(range(1000))


class TakesTheSignalBelow:
    """The signal lands in a function the finalizer calls (as in CI, where it landed in ``threading`` code below a
    finalizer): the exception would still be dropped where the finalizer returns."""

    def __del__(self):
        _signal_and_work()


def test_a_signal_landing_below_a_finalizer_still_stops_the_run():
    with pytest.raises(KeyboardInterrupt, match="SIGINT"), interruptible():
        TakesTheSignalBelow()
        time.sleep(2)


def test_a_second_signal_is_ignored_while_the_run_stops():
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"), interruptible():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(2)
        finally:
            os.kill(os.getpid(), signal.SIGINT)  # raises nothing: the run is already stopping
            time.sleep(0.1)
