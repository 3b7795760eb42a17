"""Jobs a page follows: events kept for late readers, steps counted against the plan."""

import asyncio

from jupyter_orbit.model import Step
from jupyter_orbit.progress import FanOutProgress, NullProgress, announce_plan
from jupyter_orbit.server.jobs import Job, JobProgress


class _Venv(Step):
    ACTION = "venv"


class _Install(Step):
    ACTION = "install"


def test_steps_say_n_of_m_once_the_plan_is_known():
    async def go() -> list[dict]:
        job = Job("j1", "nb.ipynb")
        progress = JobProgress(job, asyncio.get_running_loop())
        both = FanOutProgress(NullProgress(), progress)
        both.step("resolve", "reading nb.ipynb")  # before the plan: not counted
        announce_plan(both, (_Venv("python 3.11"), _Install("six"), _Venv("again")))
        both.step("venv", "python 3.11")
        both.step("base", "a finer step of the engine's")  # not in the plan: still step 1
        both.log("Resolved 3 packages")
        both.step("install", "six")
        both.warn("careful")
        both.step("venv", "again")
        await asyncio.sleep(0)  # the events arrive through the loop (safe from any thread)
        job.emit({"done": True, "ok": True})
        job.emit({"step": "late", "detail": "after done: not news"})
        return job.events

    events = asyncio.run(go())
    steps = [(e.get("step"), e.get("n"), e.get("m")) for e in events if "step" in e]
    assert steps == [
        ("resolve", None, None),
        ("venv", 1, 3),
        ("base", 1, 3),
        ("install", 2, 3),
        ("venv", 3, 3),
    ]
    [plan] = [e for e in events if "plan" in e]
    assert plan["m"] == 3 and plan["plan"][1] == {"action": "install", "detail": "six"}
    assert {"log": "Resolved 3 packages"}.items() <= next(e for e in events if "log" in e).items()
    assert events[-1]["done"] is True and all("t" in e for e in events)


def test_a_reporter_without_a_plan_method_is_left_alone():
    announce_plan(NullProgress(), (_Venv("x"),))  # no error: it just sees the steps
