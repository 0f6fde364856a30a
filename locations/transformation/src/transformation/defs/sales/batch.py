"""A sales batch: a ``sales_models_job`` run and a ``regional_sales_job`` run requested
together for the same days; the regional run writes only after its sibling succeeded."""

import time

import dagster as dg

# Runs of sales_models_job and regional_sales_job requested together for the same days
# share this tag's value: the regional run writes only after its sales models run.
SALES_BATCH_TAG = "transformation/sales_batch"
SIBLING_TIMEOUT_SECONDS = 3600
_SIBLING_POLL_SECONDS = 0.25


@dg.op(
    ins={"enriched_sales": dg.In(dg.Nothing)},
    out=dg.Out(dg.Nothing, is_required=False),
    description=(
        "Waits for the sales models run requested together with this run (if any), "
        "before this run reads its enriched_sales; outputs nothing if that run did not succeed."
    ),
)
def wait_for_sales_models(context: dg.OpExecutionContext):
    batch = context.run.tags.get(SALES_BATCH_TAG)
    if batch is None:  # launched on its own (UI, backfill): enriched_sales is in place
        yield dg.Output(None)
        return
    deadline = time.monotonic() + SIBLING_TIMEOUT_SECONDS
    while True:
        # The sibling and its retries, if its process died: one success is enough.
        siblings = [
            run
            for run in context.instance.get_runs(dg.RunsFilter(tags={SALES_BATCH_TAG: batch}))
            if run.run_id != context.run_id and run.job_name == "sales_models_job"
        ]
        if not siblings:
            raise dg.Failure(f"No sales_models_job run carries {SALES_BATCH_TAG}={batch}")
        if any(run.status == dg.DagsterRunStatus.SUCCESS for run in siblings):
            yield dg.Output(None)
            return
        if all(run.is_finished for run in siblings):
            # Failed, or a blocking check on enriched_sales failed: nothing to aggregate.
            context.log.warning(
                f"Not rebuilding regional_daily_sales: sales models run(s) "
                f"{', '.join(r.run_id for r in siblings)} did not succeed"
            )
            return
        if time.monotonic() > deadline:
            raise dg.Failure(
                f"Sales models run(s) of batch {batch} unfinished after {SIBLING_TIMEOUT_SECONDS} s"
            )
        time.sleep(_SIBLING_POLL_SECONDS)
