"""mmblvnet.datasets.pipeline.run_transforms: per-transform times."""
from mmblvnet.datasets.pipeline import run_transforms


def test_run_transforms_records_each_transforms_time_in_order():
    def add_one(results):
        return dict(results, value=results['value'] + 1)

    seconds = []
    results = run_transforms([add_one, add_one, add_one], dict(value=0),
                             seconds)
    assert results['value'] == 3
    assert len(seconds) == 3 and all(s >= 0 for s in seconds)
