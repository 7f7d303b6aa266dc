"""Signals during a run (``run.interrupt``), without a browser: a SIGINT that lands where Python drops exceptions
(a finalizer, a weakref callback of the garbage collector) is not lost, and one that lands while a row is recorded
(journaled, then added to the report's rows) stops the run once both are done."""

import os
import signal
import time

import pytest

from harness.run.interrupt import atomic, interruptible


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


def test_a_signal_inside_an_atomic_block_stops_the_run_as_the_block_ends():
    done = []
    with pytest.raises(KeyboardInterrupt, match="SIGINT"), interruptible():
        with atomic():
            done.append("journaled")
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)  # the handler has run by now
            with atomic():  # nested: the signal waits for the outer block
                done.append("inner")
            done.append("added to the report's rows")
        done.append("after the block")
    assert done == ["journaled", "inner", "added to the report's rows"]
