"""The temporal study: its plan, its models, one real run, resuming and
its report."""
import json
import os

import pytest
import torch
from mmaction.registry import MODELS

from study import HEAD_TO_HEAD, Run, experiment, model_config, plan
from study import __main__ as cli
from study.experiment import CAUSAL
from study.report import (
    answers,
    causal_cost,
    compare,
    headline,
    results_table,
    seconds_to,
    write_report,
)


def test_full_plan_covers_every_model_and_three_seeds_of_the_pair():
    runs = plan(quick=False)
    assert {r.model for r in runs if r.num_segments == 8} == set(
        experiment.MODELS)
    assert {r.model for r in runs if r.num_segments == 16} == {
        HEAD_TO_HEAD[0]}
    for model in HEAD_TO_HEAD + (CAUSAL, ):
        assert {r.seed for r in runs if r.model == model and
                r.num_segments == 8} == {0, 1, 2}
    assert len({r.name for r in runs}) == len(runs) == 15
    assert [r.name for r in runs if r.model == CAUSAL] == [
        'bLVNet-TAM-50 k3 causal T8 s0', 'bLVNet-TAM-50 k3 causal T8 s1',
        'bLVNet-TAM-50 k3 causal T8 s2']
    # the runs that answer the main question come first
    assert [r.model for r in runs[:3]] == [
        'bLVNet-TAM-50 k3', 'TSN-R50', 'TSM-R50']
    assert plan(quick=True) == [Run('bLVNet-TAM-50 k3', 8),
                                Run('TSN-R50', 8)]


def build(run):
    with torch.device('meta'):
        return MODELS.build(model_config(run, num_classes=6))


def test_models_are_the_named_variants_from_scratch():
    tsm = build(Run('TSM-R50', 16))
    assert tsm.backbone.num_segments == 16 and tsm.cls_head.num_segments == 16
    assert tsm.backbone.pretrained is None
    assert build(Run('TSN-R50', 8)).backbone.pretrained is None
    assert build(Run('bLVNet-50', 8)).backbone.tam_cfg is None
    k5 = build(Run('bLVNet-TAM-50 k5', 16)).backbone
    assert k5.num_segments == 16 and k5.tam_cfg['blending_frames'] == 5
    blend = build(Run('bLVNet-TAM-50 k3 max', 8)).backbone.tam_cfg
    assert blend['blending_method'] == 'max'
    causal = build(Run(CAUSAL, 8)).backbone
    assert causal.tam_cfg == dict(blending_frames=3, blending_method='sum',
                                  causal=True)
    assert causal.layer1.tam.causal and not build(
        Run('bLVNet-TAM-50 k3', 8)).backbone.layer1.tam.causal
    assert build(Run('TSN-R50', 8)).cls_head.num_classes == 6


def learning_rates(max_iters, base_lr=1.0):
    """The learning rate of every iteration of the study's schedule."""
    from mmengine.config import Config
    from mmengine.optim import OptimWrapper
    from mmengine.registry import PARAM_SCHEDULERS
    cfg = Config()
    experiment.set_schedule(cfg, max_iters)
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)],
                                lr=base_lr)
    wrapper = OptimWrapper(optimizer)
    schedulers = [PARAM_SCHEDULERS.build(dict(step, optimizer=wrapper))
                  for step in cfg.param_scheduler]
    rates = []
    for _ in range(max_iters):
        rates.append(optimizer.param_groups[0]['lr'])
        for scheduler in schedulers:
            scheduler.step()
    return rates


def test_schedule_warms_up_holds_the_rate_then_decays_late():
    rates = learning_rates(500)
    warmup = 50
    decay_start = 500 - round(500 * experiment.DECAY_FRACTION)
    assert rates[0] == pytest.approx(0.1)
    assert all(a < b for a, b in zip(rates[:warmup], rates[1:warmup]))
    assert rates[warmup:decay_start + 1] == pytest.approx(
        [1.0] * (decay_start + 1 - warmup))
    assert all(a > b for a, b in zip(rates[decay_start:-1],
                                     rates[decay_start + 1:]))
    assert rates[-1] < 0.01


def test_baselines_initialize_without_downloading_weights():
    for name in ('TSN-R50', 'TSM-R50'):
        model = MODELS.build(model_config(Run(name, 8), num_classes=6))
        before = model.backbone.conv1.conv.weight.clone()
        model.init_weights()  # would try to fetch ImageNet weights
        assert not torch.equal(before, model.backbone.conv1.conv.weight)


def test_one_run_trains_with_a_learning_curve_and_measures(
        synthetic_root, tmp_path, monkeypatch):
    monkeypatch.setattr(experiment, 'MIN_ITERS', 4)
    monkeypatch.setattr(experiment, 'CURVE_POINTS', 2)
    result = experiment.run_one(Run('bLVNet-TAM-50 k3', 8),
                                str(synthetic_root), 6, budget_s=0.01,
                                work_dir=str(tmp_path), frame_size=32,
                                lr=3e-4)
    assert result['iters'] == 4 and result['clips_seen'] == 32
    assert [p['iter'] for p in result['curve']] == [2, 4]
    seconds = [p['seconds'] for p in result['curve']]
    assert 0 < seconds[0] < seconds[1] == result['train_s']
    assert result['curve'][-1]['top1'] == result['top1']
    assert result['test_clips'] == 6 and len(result['pairs']) == 3
    assert 0 <= result['order'] <= 1
    assert result['gflops'] > 0 and result['params_m'] > 20
    assert result['train_memory_mb'] > 0 and result['latency_ms'] > 0


def test_a_run_is_refused_where_the_runner_trains_elsewhere(monkeypatch):
    """MMEngine picks its device at import: run_one checks, never hides a
    GPU itself."""
    monkeypatch.setattr(experiment, 'get_device', lambda: 'cuda')
    with pytest.raises(ValueError, match="--device cpu: MMEngine's runner "
                       'trains on cuda in this process; start the process '
                       "with CUDA_VISIBLE_DEVICES=''"):
        experiment.run_one(Run('TSN-R50', 8), 'data', 4, 1.0, 'work', 32,
                           3e-4)
    monkeypatch.setattr(experiment, 'get_device', lambda: 'cpu')
    with pytest.raises(ValueError, match='this machine has no CUDA device'):
        experiment.check_device('cuda')


def test_a_cpu_study_hides_cuda_from_its_workers_only(monkeypatch):
    monkeypatch.setenv('CUDA_VISIBLE_DEVICES', '0')
    with cli.workers_on('cpu'), cli._pool(1) as pool:
        assert pool.submit(os.getenv, 'CUDA_VISIBLE_DEVICES').result() == ''
    assert os.environ['CUDA_VISIBLE_DEVICES'] == '0'
    with cli.workers_on('cuda'):
        assert os.environ['CUDA_VISIBLE_DEVICES'] == '0'


def test_evaluation_time_is_not_charged_to_the_budget():
    ticks = iter([0.0, 10.0, 25.0, 30.0, 100.0])  # start, eval 1, eval 2

    class Runner:
        iter, max_iters, model = 0, 2, None

    hook = experiment.LearningCurveHook(
        2, lambda model, final: dict(top1=0.5, order=0.5, test_clips=6),
        'run', clock=lambda: next(ticks))
    runner = Runner()
    hook.before_train(runner)
    for i in range(2):
        runner.iter = i
        hook.after_train_iter(runner, i)
    # 10 s trained, 15 s evaluating, 5 s trained: 15 s charged in all
    assert [p['seconds'] for p in hook.points] == [10.0, 15.0]
    assert hook.final['train_s'] == 15.0


def test_resume_keeps_finished_runs_and_refuses_other_settings(tmp_path):
    settings = cli._settings(cli.parse_args([]))
    path = str(tmp_path / 'results.json')
    state = cli.load_state(path, settings, fresh=False)
    assert state['runs'] == []
    state['runs'].append(dict(name='TSN-R50 T8 s0'))
    cli.save_state(path, state)
    assert cli.load_state(path, settings, fresh=False)['runs'] == [
        dict(name='TSN-R50 T8 s0')]
    other = cli._settings(cli.parse_args(['--frame-size', '64']))
    with pytest.raises(ValueError, match='--fresh'):
        cli.load_state(path, other, fresh=False)
    assert cli.load_state(path, other, fresh=True)['runs'] == []
    assert json.load(open(path))['runs'] == [dict(name='TSN-R50 T8 s0')]


def test_seconds_to_target_is_the_first_curve_point_reaching_it():
    curve = [dict(seconds=10, top1=0.5), dict(seconds=20, top1=0.92),
             dict(seconds=30, top1=0.88)]
    assert seconds_to(curve) == 20
    assert seconds_to(curve, target=0.95) is None


def fake_result(model, t, top1, seed=0, gflops=1.0, order=None):
    order = top1 if order is None else order
    return dict(model=model, num_segments=t, seed=seed, frame_size=48,
                lr=1e-3, test_clips=300, top1=top1, order=order,
                pairs=[order, order - 0.1, order + 0.1],
                per_class=[top1] * 6, iters=100, clips_seen=800,
                curve=[dict(iter=50, seconds=50, top1=top1 / 2, order=0.5),
                       dict(iter=100, seconds=100, top1=top1,
                            order=order)],
                curve_clips_per_class=16, gflops=gflops, params_m=25.0,
                train_memory_mb=100 * gflops, latency_ms=10 * gflops)


def fake_runs(tam_top1):
    runs = []
    for t in (8, 16):
        scale = t / 8
        runs += [
            fake_result('bLVNet-TAM-50 k3', t, tam_top1 + 0.01 * scale,
                        gflops=1.3 * scale),
            fake_result('TSN-R50', t, 0.45, gflops=4 * scale, order=0.5),
            fake_result('TSM-R50', t, 0.8, gflops=4 * scale),
            fake_result('bLVNet-50', t, 0.5, gflops=1.3 * scale),
        ]
    runs += [fake_result('TSM-R50', 8, 0.7, seed=1, gflops=4),
             fake_result('TSM-R50', 8, 0.9, seed=2, gflops=4)]
    return runs


REFERENCE = dict(threads=2, costs={
    'TSN-R50': dict(gflops=33.0, params_m=24.0, train_memory_mb=2000,
                    latency_ms=400),
    'TSM-R50': dict(gflops=33.0, params_m=24.0, train_memory_mb=2400,
                    latency_ms=450),
    'bLVNet-TAM-50 k3': dict(gflops=12.0, params_m=25.0,
                             train_memory_mb=800, latency_ms=150)})


def test_answers_follow_the_numbers():
    agree = ' '.join(answers(fake_runs(tam_top1=0.95), REFERENCE))
    assert 'TAM beats TSM, as the paper claims' in agree
    assert 'TAM adds order information that local fusion cannot' in agree
    assert 'Above 50% beyond noise: TSM-R50, bLVNet-TAM-50 k3' in agree
    assert '0.36x the GFLOPs of TSM-R50, 0.40x the training memory' in agree
    assert 'agrees with the paper' in agree
    disagree = ' '.join(answers(fake_runs(tam_top1=0.45), None))
    assert 'TSM did better here, unlike the paper' in disagree
    # 46% vs 50% order on 300 clips is within two standard errors
    assert 'within noise (two standard errors on 300 test clips)' in disagree
    assert 'Cost at 224x224 was not measured' in disagree


def test_headline_checks_both_targets():
    assert 'The study separates them' in headline(fake_runs(0.95))
    assert 'does NOT reach both targets' in headline(fake_runs(0.85))


def test_answers_say_when_no_model_learned_order():
    at_chance = [dict(r, top1=0.2, order=0.5) for r in fake_runs(0.2)]
    assert 'no model learned frame order' in ' '.join(
        answers(at_chance, None))


def test_compare_uses_two_standard_errors():
    assert compare(0.60, 0.50, test_clips=240) == 1  # noise 0.09
    assert compare(0.55, 0.50, test_clips=240) == 0
    assert compare(0.50, 0.60, test_clips=2400) == -1
    assert compare(None, 0.5, test_clips=240) is None


def test_table_averages_seeds_with_spread_and_time_to_target():
    table = results_table(fake_runs(0.9))
    row = next(line for line in table.splitlines()
               if line.startswith('| TSM-R50 | 8 |'))
    assert '| 3 | 80.0% ± 8.2% |' in row
    assert '| 100 (1/3 runs) |' in row  # only the 90% seed got there


def causal_runs(causal_top1s, order=1.0):
    """Offline k3 at 3 seeds (98%, 99%, 100%; 100 s to 90%) and causal
    k3 runs of ``causal_top1s`` (200 s to 90%)."""
    runs = [fake_result('bLVNet-TAM-50 k3', 8, top1, seed=seed)
            for seed, top1 in enumerate((0.98, 0.99, 1.0))]
    for seed, top1 in enumerate(causal_top1s):
        run = fake_result(CAUSAL, 8, top1, seed=seed, order=order)
        run['curve'][0]['seconds'], run['curve'][1]['seconds'] = 200, 250
        run['curve'][0]['top1'] = 0.9
        run['iters'] = 90
        runs.append(run)
    return runs


def test_causal_cost_is_computed_with_its_noise():
    same = causal_cost(causal_runs((0.97, 0.99, 0.98)))
    assert ('the causal k3 TAM reaches 98.0% ± 0.8% top-1 (3 runs) and '
            'offline k3 99.0% ± 0.8% (3 runs): causal minus offline -1.0 '
            'points of top-1 and +1.0 of order accuracy (100.0% vs 99.0%); '
            'training seconds to 90%: 200 vs 100 (2.00x), in 90 vs 100 '
            'iterations.') in same
    assert ('within noise (two standard errors on 300 test clips), so '
            'causality costs nothing measurable in top-1') in same
    worse = causal_cost(causal_runs((0.80, 0.90, 0.85), order=0.9))
    assert 'causal minus offline -14.0 points of top-1' in worse
    assert 'Causality costs top-1 under this budget.' in worse
    # a causal seed that never reached 90%: counted, no ratio
    slow = causal_runs((0.80, 0.95))
    slow[3]['curve'][0]['top1'] = 0.5
    assert ('to 90%: 200 (1/2 runs) vs 100, in' in causal_cost(slow))
    assert 'not measured' in causal_cost(fake_runs(0.9))
    assert 'At equal iterations' not in same  # 90 vs 100 iterations


def test_causal_cost_at_equal_iterations_when_the_budgets_bought_others():
    """3x the iterations for the same GFLOPs (another machine): also
    compared on the learning curve at offline k3's 100 iterations."""
    runs = causal_runs((0.99, 1.0, 0.98))
    for run in runs[3:]:
        run['iters'] = 300
        run['curve'] = [dict(iter=100, seconds=100, top1=0.5, order=0.5),
                        dict(iter=300, seconds=300, top1=run['top1'],
                             order=1.0)]
    text = causal_cost(runs)
    assert 'within noise (two standard errors on 300 test clips)' in text
    assert ('The causal runs trained 3.00x the iterations of offline k3 '
            'for the same GFLOPs per clip') in text
    assert ('iterations to 90% 300 vs 100; at 100 iterations (constant '
            'learning rate, 96 held-out clips) the causal TAM has 50.0% '
            "top-1, -49.0 points against offline k3's final 99.0% at "
            '100. At equal iterations causality costs top-1.') in text


def test_report_writes_doc_and_plots(tmp_path):
    settings = cli._settings(cli.parse_args(['--quick']))
    state = dict(settings=settings, runs=fake_runs(0.9), wall_s=180,
                 reference=REFERENCE, date='2026-01-02')
    doc = write_report(state, str(tmp_path), None,
                       command='python -m study --quick')
    text = open(doc).read()
    assert 'python -m study --quick` on 2026-01-02' in text
    assert '10 runs in 3 min' in text
    assert '## Causal TAM\n\n**Cost of causality:** not measured' in text
    assert (tmp_path / 'study_learning_curves.png').stat().st_size > 0
    assert (tmp_path / 'study_accuracy_vs_gflops.png').stat().st_size > 0
