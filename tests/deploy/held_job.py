"""A one-op job for tests/deploy/test_run_monitoring.py: the op writes the run worker's pid to a file and
waits, so the test can SIGKILL the worker mid-run. The in-process executor keeps the op in the run
worker itself (the default multiprocess executor would put it in a child that the worker outlives)."""

import os
import time

import dagster as dg


@dg.op(config_schema={"pid_file": str})
def hold(context: dg.OpExecutionContext) -> None:
    with open(context.op_config["pid_file"], "w") as out:
        out.write(str(os.getpid()))
    time.sleep(300)


@dg.job(executor_def=dg.in_process_executor)
def held_job() -> None:
    hold()


defs = dg.Definitions(jobs=[held_job])
