"""Reward models: oracle ORM/PRM on arith, the policy's logprob, a vLLM pooling classifier."""
from __future__ import annotations

import math

import pytest

from evaluators.accounting import ModelShape, score_cost
from evaluators.errors import EvaluatorError
from evaluators.rewards import REWARD_MODELS, make_reward_model, register_reward_model
from evaluators.tasks import get_task
from evaluators.types import RewardModel, Sample, SamplingSpec


@pytest.fixture(scope="module")
def arith():
    task = get_task("arith", level=2, n_problems=3)
    return task, task.problems()[0]


def _right_and_wrong(problem):
    from evaluators.tasks.arith import parse_expr, steps_of

    steps = steps_of(parse_expr(problem.meta["expr"]))
    right = steps + [f"A: {problem.answer}"]
    wrong = steps[:-1] + [steps[-1].split("=")[0] + "=999", "A: 999"]
    return right, wrong


def test_registry():
    assert {"oracle", "logprob", "classifier"} <= set(REWARD_MODELS)
    with pytest.raises(EvaluatorError, match="unknown reward model 'prm9'"):
        make_reward_model("prm9")

    @register_reward_model("const-test")
    class Const:
        name, oracle = "const", False

    assert isinstance(make_reward_model("const-test"), Const)
    del REWARD_MODELS["const-test"]


def test_oracle_orm_and_prm(arith):
    task, problem = arith
    right, wrong = _right_and_wrong(problem)
    orm = make_reward_model("oracle", task=task)
    assert isinstance(orm, RewardModel) and orm.oracle and orm.name == "oracle-orm"
    scores = orm.score(problem, [right, wrong])
    assert [s.value for s in scores] == [1.0, 0.0]
    assert all(s.scored_tokens == 0 and s.flops == 0 for s in scores)
    prm = make_reward_model("oracle", task=task, mode="prm")
    # each prefix of the right solution ends with a correct step; the wrong one's last steps fail
    assert [prm.score(problem, [right[:i]])[0].value for i in range(1, len(right) + 1)] == [1.0] * len(right)
    assert prm.score(problem, [wrong[:-1], wrong])[0].value == 0.0
    with pytest.raises(EvaluatorError, match="no step checker"):
        make_reward_model("oracle", task=get_task("jsonl", path="sample"), mode="prm")
    with pytest.raises(EvaluatorError, match="mode must be"):
        make_reward_model("oracle", task=task, mode="xrm")


def test_logprob_reward_from_samples():
    rm = make_reward_model("logprob")
    a = Sample("x", [1, 2], [-0.1, -0.3], -0.4, 3, 2, "eos")
    b = Sample("y", [1], [-2.0], -2.0, 3, 1, "eos")
    sa, sb = rm.score(None, [["x"], ["y"]], [a, b])
    assert sa.value == pytest.approx(math.exp(-0.2)) and sb.value == pytest.approx(math.exp(-2.0))
    assert sa.scored_tokens == 0 and sa.flops == 0 and not rm.oracle
    with pytest.raises(EvaluatorError, match="needs one Sample per candidate"):
        rm.score(None, [["x"]])


@pytest.mark.slow
def test_logprob_reward_on_real_samples(vllm_engine, arith):
    _, problem = arith
    samples = vllm_engine.generate([problem.prompt], SamplingSpec(n=4, max_tokens=24, seed=3))[0]
    scores = make_reward_model("logprob").score(problem, [[s.text] for s in samples], samples)
    for sc, s in zip(scores, samples):
        assert 0 < sc.value <= 1
        assert sc.value == pytest.approx(math.exp(sum(s.logprobs) / len(s.logprobs)), rel=1e-4)


@pytest.fixture(scope="module")
def classifier_dir(policy_dir, tmp_path_factory):
    """A tiny random LlamaForSequenceClassification (1 label) with the policy's tokenizer."""
    from evaluators.rewards import random_classifier

    return random_classifier(policy_dir, tmp_path_factory.mktemp("rm-classifier"))


@pytest.mark.slow
def test_classifier_matches_hf_and_counts_compute(classifier_dir, arith):
    import torch
    from transformers import AutoTokenizer, LlamaForSequenceClassification

    task, problem = arith
    right, wrong = _right_and_wrong(problem)
    rm = make_reward_model("classifier", model=str(classifier_dir), task=task)
    try:
        assert not rm.oracle and rm.shape.n_labels == 1
        scores = rm.score(problem, [right, wrong, right[:1]])
        tok = AutoTokenizer.from_pretrained(classifier_dir)
        hf = LlamaForSequenceClassification.from_pretrained(classifier_dir).eval()
        shape = ModelShape.from_hf_dir(classifier_dir)
        for steps, sc in zip([right, wrong, right[:1]], scores):
            text = problem.prompt + "\n\n".join(steps)
            ids = tok(text, return_tensors="pt")
            with torch.no_grad():
                logit = hf(**ids).logits[0, 0].item()
            assert sc.value == pytest.approx(1 / (1 + math.exp(-logit)), abs=2e-3)
            assert sc.scored_tokens == ids["input_ids"].shape[1]
            assert sc.flops == score_cost(shape, sc.scored_tokens)["flops"] > 0
        assert rm.score(problem, []) == []
    finally:
        rm.shutdown()


def test_classifier_rejects_bad_dirs(tmp_path, policy_dir):
    with pytest.raises(EvaluatorError, match="no config.json"):
        make_reward_model("classifier", model=str(tmp_path))
    with pytest.raises(EvaluatorError, match="not a sequence-classification model"):
        make_reward_model("classifier", model=str(policy_dir))
