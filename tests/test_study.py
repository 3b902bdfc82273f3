"""The temporal study: its plan, its models, one real run and its report."""
import torch
from mmaction.registry import MODELS

from mmblvnet import study
from mmblvnet.study import MAIN_MODELS, Run, model_config, plan
from mmblvnet.study_report import (
    answers,
    compare,
    results_table,
    write_report,
)


def test_full_plan_covers_every_model_at_8_and_16_frames_and_seeds():
    runs = plan(quick=False)
    standard = {(r.model, r.num_segments) for r in runs
                if r.setting == 'standard'}
    assert standard == {(m, t) for m in study.MODELS for t in (8, 16)}
    assert len(runs) == 20
    for model in MAIN_MODELS:
        seeds = {r.seed for r in runs if r.model == model and
                 r.num_segments == 8 and r.setting == 'standard'}
        assert seeds == {0, 1, 2}
        assert Run(model, 8, 'hard') in runs
    assert all(r.num_segments == 8 for r in plan(quick=True))


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
    assert build(Run('TSN-R50', 8)).cls_head.num_classes == 6


def test_baselines_initialize_without_downloading_weights():
    for name in ('TSN-R50', 'TSM-R50'):
        model = MODELS.build(model_config(Run(name, 8), num_classes=6))
        before = model.backbone.conv1.conv.weight.clone()
        model.init_weights()  # would try to fetch ImageNet weights
        assert not torch.equal(before, model.backbone.conv1.conv.weight)


def test_one_run_trains_tests_and_measures(synthetic_root, tmp_path,
                                           monkeypatch):
    monkeypatch.setattr(study, 'MIN_ITERS', 4)
    result = study.run_one(Run('bLVNet-TAM-50 k3', 8), str(synthetic_root),
                           6, budget_s=1, work_dir=str(tmp_path))
    assert result['iters'] >= 4
    assert 0 <= result['top1'] <= 1 and len(result['pairs']) == 3
    assert result['gflops'] > 0 and result['params_m'] > 20
    assert result['train_memory_mb'] > 0 and result['latency_ms'] > 0


def fake_result(model, t, top1, seed=0, setting='standard', gflops=1.0):
    return dict(model=model, num_segments=t, setting=setting, seed=seed,
                frame_size=32, lr=1e-3, test_clips=240, top1=top1,
                pairs=[top1, top1 - 0.1, top1], iters=100,
                gflops=gflops, params_m=25.0, train_memory_mb=100 * gflops,
                latency_ms=10 * gflops)


def fake_results(tam_top1):
    results = []
    for t in (8, 16):
        scale = t / 8
        results += [
            fake_result('TSN-R50', t, 0.4, gflops=4 * scale),
            fake_result('TSM-R50', t, 0.8, gflops=4 * scale),
            fake_result('bLVNet-50', t, 0.5, gflops=1.3 * scale),
            fake_result('bLVNet-TAM-50 k3', t, tam_top1 + 0.01 * scale,
                        gflops=1.3 * scale),
        ]
    results += [fake_result('TSM-R50', 8, 0.7, seed=1, gflops=4),
                fake_result('TSM-R50', 8, 0.9, seed=2, gflops=4)]
    return results


def test_answers_follow_the_numbers():
    agree = ' '.join(answers(fake_results(tam_top1=0.95)))
    assert 'TAM beats TSM, as the paper claims' in agree
    assert 'TAM adds order information that local fusion cannot' in agree
    assert 'Above 50% beyond noise: bLVNet-TAM-50 k3' in agree
    assert '0.33x the GFLOPs of TSM-R50' in agree
    disagree = ' '.join(answers(fake_results(tam_top1=0.45)))
    assert 'TSM did better here, unlike the paper' in disagree
    # 45% vs 50% on 240 clips is within two standard errors
    assert 'within noise (two standard errors on 240 test clips)' in disagree
    assert 'hard setting' in disagree and 'Not measured' in disagree
    assert 'Above 50% beyond noise: TSM-R50' in disagree


def test_answers_say_when_no_model_learned_order():
    at_chance = [dict(r, top1=0.2, pairs=[0.5, 0.45, 0.55])
                 for r in fake_results(tam_top1=0.2)]
    assert 'no model learned frame order' in ' '.join(answers(at_chance))


def test_compare_uses_two_standard_errors():
    assert compare(0.60, 0.50, test_clips=240) == 1  # noise 0.09
    assert compare(0.55, 0.50, test_clips=240) == 0
    assert compare(0.50, 0.60, test_clips=2400) == -1
    assert compare(None, 0.5, test_clips=240) is None


def test_table_averages_seeds_with_spread():
    table = results_table(fake_results(0.9))
    row = next(line for line in table.splitlines()
               if line.startswith('| TSM-R50 | 8 |'))
    assert '| 3 | 80.0% ± 8.2% |' in row


def test_report_writes_doc_and_plots(tmp_path):
    doc = write_report(fake_results(0.9), str(tmp_path), None,
                       command='python -m mmblvnet.study --quick',
                       budget_s=25, minutes=3)
    text = open(doc).read()
    assert 'python -m mmblvnet.study --quick' in text
    assert (tmp_path / 'study_accuracy_vs_gflops.png').stat().st_size > 0
    assert (tmp_path / 'study_accuracy_vs_frames.png').stat().st_size > 0
