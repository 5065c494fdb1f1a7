"""BOPRO (`hrm agent optimize`): GP, acquisition, embeddings, objectives, task files, and the loop end to end
against the scripted OpenAI-compatible server."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest

from hrm_agent.optimize.embedding import HashEmbedder
from hrm_agent.errors import AgentError
from hrm_agent.optimize.objectives import (
    ExpressionError,
    TaskError,
    evaluate_expression,
    load_task,
    parse_expression,
    parse_task,
)
from hrm_engine.bayesopt import (
    GaussianProcess,
    GPError,
    GPHyper,
    acquisition_values,
    expected_improvement,
    upper_confidence_bound,
)

# -- Gaussian process --------------------------------------------------------------------------------

_R1 = math.sqrt(5.0)  # Matérn 5/2 at distance 1, length scale 1: s = sqrt(5) r


@pytest.mark.parametrize(
    "kernel, k01",
    [("rbf", math.exp(-0.5)), ("matern52", (1 + _R1 + _R1 * _R1 / 3) * math.exp(-_R1))],
)
def test_gp_posterior_matches_hand_computed_two_point_case(kernel, k01):
    # X = {0, 1}, y = {1, -1}, l = 1, σf² = 1, noise s; k = k(0, 1):
    # K = [[1+s, k], [k, 1+s]];  K⁻¹y = [1, -1] / (1 + s - k)
    # at x* = 0: k* = [1, k]  ->  mean = (1 - k) / (1 + s - k)
    #            var = 1 - k*ᵀK⁻¹k* = 1 - (1 + s + k² (1 + s) - 2k²) / ((1+s)² - k²)   (latent: no noise)
    s, k = 0.1, k01
    gp = GaussianProcess(kernel, GPHyper(1.0, 1.0, s), normalize_y=False)
    gp.fit(np.array([[0.0], [1.0]]), np.array([1.0, -1.0]), optimize=False)
    assert gp.hyper == GPHyper(1.0, 1.0, s)  # fixed: not refitted
    mean, var = gp.predict(np.array([[0.0], [0.5], [10.0]]))
    assert mean[0] == pytest.approx((1 - k) / (1 + s - k), rel=1e-6)
    det = (1 + s) ** 2 - k**2
    assert var[0] == pytest.approx(1 - ((1 + s) + k * k * (1 + s) - 2 * k * k) / det, rel=1e-6)
    assert mean[1] == pytest.approx(0.0, abs=1e-9)  # midway between +1 and -1
    assert mean[2] == pytest.approx(0.0, abs=1e-6) and var[2] == pytest.approx(1.0, rel=1e-6)  # far: the prior
    _, cov = gp.predict(np.array([[0.0], [0.5]]), full_cov=True)  # the full covariance agrees
    assert np.diag(cov) == pytest.approx(var[:2], rel=1e-6)


def test_gp_fits_a_known_function_and_is_unsure_away_from_the_data():
    x = np.linspace(0.0, 2.0, 9)[:, None]
    y = np.sin(3.0 * x[:, 0])
    gp = GaussianProcess("matern52", seed=0).fit(x, y)
    assert gp.model.kernel_.k1.k2.nu == 2.5  # a Matérn 5/2 kernel, scikit-learn's
    mean, var = gp.predict(x)
    assert mean == pytest.approx(y, abs=0.02)  # the posterior mean goes through the training points
    between = np.array([[0.125], [0.875], [1.625]])  # midway between training points
    assert gp.predict(between)[0] == pytest.approx(np.sin(3.0 * between[:, 0]), abs=0.1)
    far = np.array([[2.0], [2.5], [3.0], [4.0], [8.0]])
    sd_far = np.sqrt(gp.predict(far)[1])
    assert np.all(np.diff(sd_far) > 0) and sd_far[0] < 0.1 * sd_far[-1]  # std grows away from the data
    assert np.sqrt(var).max() < sd_far[1]
    assert sd_far[-1] == pytest.approx(math.sqrt(gp.hyper.signal_variance) * gp.y_std, rel=1e-3)  # the prior


def test_gp_hyperparameters_follow_the_data():
    x = np.linspace(0.0, 4.0, 25)[:, None]
    slow = GaussianProcess(seed=0).fit(x, np.sin(1.0 * x[:, 0])).hyper
    fast = GaussianProcess(seed=0).fit(x, np.sin(5.0 * x[:, 0])).hyper
    assert fast.length_scale < 0.5 * slow.length_scale  # a wigglier function: a shorter length scale
    rng = np.random.default_rng(1)
    noisy = GaussianProcess(seed=0).fit(x, np.sin(1.0 * x[:, 0]) + 0.3 * rng.standard_normal(25)).hyper
    assert noisy.noise > 100 * slow.noise  # scatter around a smooth curve is learned as noise
    again = GaussianProcess(seed=0).fit(x, np.sin(5.0 * x[:, 0])).hyper
    assert again == fast  # seeded restarts: the same fit


def test_gp_normalize_y_returns_original_units_and_interpolates():
    x = np.linspace(0, 1, 6)[:, None]
    y = 1000.0 + 50.0 * np.sin(4 * x[:, 0])
    gp = GaussianProcess("matern52").fit(x, y)
    mean, var = gp.predict(x)
    assert mean == pytest.approx(y, abs=2.0)
    assert np.all(var < 50.0**2)
    assert gp.y_mean == pytest.approx(y.mean()) and gp.y_std == pytest.approx(y.std())
    assert gp.y_std == pytest.approx(float(gp.model._y_train_std))  # the same standardisation as sklearn's


def test_marginal_likelihood_prefers_the_true_length_scale():
    rng = np.random.default_rng(3)
    x = np.sort(rng.uniform(0, 10, 60))[:, None]
    d = np.abs(x - x.T)
    y = np.linalg.cholesky(np.exp(-0.5 * d * d / 0.8**2) + 1e-3 * np.eye(60)) @ rng.standard_normal(60)
    gp = GaussianProcess("rbf", normalize_y=False).fit(x, y)
    lml = {ls: gp.log_marginal_likelihood(GPHyper(ls, 1.0, 1e-3)) for ls in (0.2, 0.8, 3.2)}
    assert max(lml, key=lml.get) == 0.8
    assert 0.4 < gp.hyper.length_scale < 1.6
    assert gp.lml >= max(lml.values())  # the fit is at least as likely as any of the three


def test_gp_survives_duplicate_points_and_rejects_bad_data():
    x = np.array([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    gp = GaussianProcess("matern52").fit(x, np.array([0.5, 0.5, -1.0]))
    mean, var = gp.predict(x)
    assert np.all(np.isfinite(mean)) and np.all(var > 0)
    for xs, ys, message in (
        (np.zeros((0, 2)), np.zeros(0), "zero points"),
        (x, np.zeros(2), "3 inputs but 2 scores"),
        (x, np.array([0.0, np.nan, 1.0]), "finite"),
    ):
        with pytest.raises(GPError, match=message):
            GaussianProcess().fit(xs, ys)
    with pytest.raises(GPError, match="unknown kernel"):
        GaussianProcess("linear")
    with pytest.raises(GPError, match="before fit"):
        GaussianProcess().predict(x)


# -- acquisition -------------------------------------------------------------------------------------


def test_expected_improvement_matches_its_closed_formula_and_an_integral():
    mean, var, best = np.array([1.0, 0.0, 2.0]), np.array([4.0, 0.25, 0.0]), 0.5
    ei = expected_improvement(mean, var, best)
    for m, v, got in zip(mean[:2], var[:2], ei[:2]):
        sd = math.sqrt(v)
        z = (m - best) / sd
        cdf = 0.5 * (1 + math.erf(z / math.sqrt(2)))
        pdf = math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
        assert got == pytest.approx((m - best) * cdf + sd * pdf, rel=1e-12)
        f = np.linspace(m - 12 * sd, m + 12 * sd, 200001)  # E[max(f - best, 0)] by quadrature
        dens = np.exp(-0.5 * ((f - m) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))
        assert got == pytest.approx(np.trapezoid(np.maximum(f - best, 0) * dens, f), rel=1e-6)
    assert ei[2] == pytest.approx(1.5)  # no uncertainty: the certain improvement
    assert expected_improvement(np.array([0.0]), np.array([0.0]), 1.0)[0] == 0.0
    assert expected_improvement(np.array([1.0]), np.array([1.0]), 0.5, xi=0.5)[0] == pytest.approx(
        1.0 / math.sqrt(2 * math.pi)
    )  # z = 0: Φ term vanishes, σφ(0) remains


def test_ucb_and_thompson_sampling():
    assert upper_confidence_bound(np.array([1.0]), np.array([4.0]), beta=9.0)[0] == pytest.approx(7.0)
    x = np.linspace(0, 1, 5)[:, None]
    gp = GaussianProcess("rbf", GPHyper(0.3, 1.0, 1e-4), normalize_y=False).fit(
        x, np.sin(3 * x[:, 0]), optimize=False
    )
    xs = np.linspace(0, 1, 11)[:, None]
    draws = gp.sample(xs, np.random.default_rng(0), n=400)
    mean, var = gp.predict(xs)
    assert draws.mean(0) == pytest.approx(mean, abs=0.02)
    assert draws.var(0) == pytest.approx(var, abs=0.01)
    a = acquisition_values("thompson", gp, xs, 0.0, np.random.default_rng(1))
    b = acquisition_values("thompson", gp, xs, 0.0, np.random.default_rng(1))
    assert np.array_equal(a["value"], b["value"]) and a["value"].shape == (11,)
    with pytest.raises(ValueError, match="unknown acquisition"):
        acquisition_values("pi", gp, xs, 0.0, np.random.default_rng(0))


def test_acquisition_chooses_sensibly_on_a_fitted_gp():
    # f(x) = -(x - 0.3)^2 seen at six points of [0, 1]; the candidates span [0, 3].
    x = np.array([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])[:, None]
    y = -((x[:, 0] - 0.3) ** 2)
    gp = GaussianProcess("matern52", seed=0).fit(x, y)
    xs = np.linspace(0.0, 3.0, 301)[:, None]
    rng = np.random.default_rng(0)
    ei = acquisition_values("ei", gp, xs, float(y.max()), rng, xi=0.0)
    mean, var = gp.predict(xs)
    assert ei["mean"] == pytest.approx(mean) and ei["std"] == pytest.approx(np.sqrt(var))
    inside = ei["value"][:101]  # x in [0, 1], where the data is
    assert 0.2 <= xs[int(np.argmax(inside)), 0] <= 0.45  # EI: near the maximum between the data
    assert ei["value"][30] > 10 * ei["value"][100]  # x = 0.3 beats x = 1.0, where f is known and low
    assert ei["value"][300] > ei["value"][100]  # unexplored ground is worth more than a known low point
    explore = acquisition_values("ucb", gp, xs, float(y.max()), rng, beta=1e4)
    assert xs[int(np.argmax(explore["value"])), 0] > 2.0  # UCB with a large beta: where nothing is known
    exploit = acquisition_values("ucb", gp, xs, float(y.max()), rng, beta=1e-6)
    assert xs[int(np.argmax(exploit["value"])), 0] == pytest.approx(0.3, abs=0.06)  # small beta: the mean


# -- embeddings and objectives -----------------------------------------------------------------------


def test_hash_embedding_is_deterministic_unit_and_spelling_aware():
    emb = HashEmbedder()
    v = emb.embed(["garden", "gardens", "quantum", "garden"])
    assert v.shape == (4, 256) and np.linalg.norm(v, axis=1) == pytest.approx(np.ones(4))
    assert np.array_equal(v[0], v[3]) and np.array_equal(
        v, HashEmbedder().embed(["garden", "gardens", "quantum", "garden"])
    )
    assert v[0] @ v[1] > 0.7 > v[0] @ v[2]


def _default_model_ready() -> bool:
    from hrm_agent.backends.local_model import default_model_dir

    return (default_model_dir() / "config.json").is_file() and (
        default_model_dir() / "model.safetensors"
    ).is_file()


@pytest.mark.skipif(
    not _default_model_ready(),
    reason="the default local model is not converted yet (any `hrm agent run` converts it)",
)
def test_model_embedding_reads_hidden_states_of_the_local_model():
    from hrm_agent.optimize.embedding import make_embedder

    emb = make_embedder("model")
    v = emb.embed(["garden", "gardens", "2*x**2 - 3*x + 1", "garden"])
    assert v.shape == (4, 576) and np.linalg.norm(v, axis=1) == pytest.approx(np.ones(4), abs=1e-6)
    assert v[0] @ v[1] > v[0] @ v[2]  # a plural is nearer its word than a formula is
    assert np.array_equal(v[0], v[3])
    again = make_embedder("model").embed(["gardens"])  # the weights are cached, the vector is the same
    assert again[0] == pytest.approx(v[1], abs=1e-5)


def test_expression_parser_allows_arithmetic_only():
    tree = parse_expression("2*x**2 - 3*x + 1/2")
    assert evaluate_expression(tree, 3.0) == pytest.approx(9.5)
    for bad, why in [
        ("__import__('os').system('true')", "Call"),
        ("x.real", "Attribute"),
        ("y + 1", "unknown name"),
        ("[x]", "List"),
        ("x if x else 1", "IfExp"),
        ("3 + 4", "does not use x"),
        ("x +", "syntax"),
        ("x" + "+x" * 100, "longer than"),
    ]:
        with pytest.raises(ExpressionError, match=why):
            parse_expression(bad)
    for bad, why in [
        ("x ** 100", "exponent"),
        ("1 / (x - 3)", "division by zero"),
        ("(x - 4) ** 0.5", "fractional"),
        ("(x*1000000) ** 8", "out of range"),
    ]:
        with pytest.raises(ExpressionError, match=why):
            evaluate_expression(parse_expression(bad), 3.0)


def _task(tmp_path: Path, text: str, name: str = "task.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


EXPR_TASK = """\
name: quad
objective:
  kind: expression_fit
  x: [-2, -1, 0, 1, 2]
  target: "x**2 + 1"
prompt:
  task: "Fit these points:\\n{data}"
  answer_format: one expression per line
optimizer:
  evaluations: 6
  initial: 2
  proposals_per_call: 3
  embedding: hash
"""


def test_expression_objective_extracts_model_spellings_and_scores_error(tmp_path):
    task = load_task(_task(tmp_path, EXPR_TASK))
    obj = task.objective
    assert "x=-2 -> y=5" in task.prompt() and "x**2 + 1" not in task.prompt()
    text = "Sure:\n1. y = x^2 + 1\n- f(x) = 2x + 1.\n`(x+1)(x-1)`\nimport os\nthe answer"
    assert obj.extract(text) == ["x ** 2 + 1", "2 * x + 1", "(x + 1) * (x - 1)"]
    assert obj.score("x ** 2 + 1").score == 0.0
    got = obj.score("2 * x + 1")  # errors at x=-2..2: 8, 3, 0, 1, 0 -> rmse sqrt(74/5)
    assert got.valid and got.score == pytest.approx(-math.log1p(math.sqrt(74 / 5)), abs=1e-6)
    bad = obj.score("1 / x")
    assert (
        not bad.valid and bad.score == pytest.approx(-math.log1p(1000)) and "division by zero" in bad.detail
    )


def test_shipped_tasks_load():
    for name in ("guess-word", "fit-expression"):
        task = load_task(name)
        assert task.optimizer.evaluations >= 8 and task.prompt()
    word = load_task("guess-word").objective
    assert word.extract("Sure! My guesses:\n1. Garden\n2) gardens - plural\napple, pear") == [
        "garden",
        "gardens",
        "apple",
        "pear",
    ]
    assert word.score("garden").score == 1.0 and word.score("gardens").score > word.score("quantum").score


@pytest.mark.parametrize(
    "mutate, message",
    [
        (
            lambda t: t.replace("  x: [", "  xs: ["),
            r"task.yaml:4: objective.xs: unknown key; did you mean 'x'\?",
        ),
        (lambda t: t.replace("expression_fit", "regression"), r"task.yaml:3: objective.kind: must be one of"),
        (
            lambda t: t.replace('  target: "x**2 + 1"', "  y: [1, 2, 3]"),
            r"task.yaml:5: objective.y: has 3 values but objective.x has 5",
        ),
        (
            lambda t: t.replace("0, 1, 2]", "zero, 1, 2]"),
            r"task.yaml:4: objective.x\[2\]: must be a finite number",
        ),
        (
            lambda t: t.replace('"x**2 + 1"', '"sqrt(x)"'),
            r"task.yaml:5: objective.target: Call is not allowed",
        ),
        (
            lambda t: t.replace("embedding: hash", "embedding: bert"),
            r"task.yaml:13: optimizer.embedding: must be one of",
        ),
        (
            lambda t: t.replace("evaluations: 6", "evaluations: 0"),
            r"task.yaml:10: optimizer.evaluations: must be >= 1",
        ),
        (lambda t: t.replace("initial: 2", "initial: 9"), r"task.yaml:11: optimizer.initial: \(9\) exceeds"),
        (
            lambda t: t.replace("proposals_per_call: 3", "proposals_per_call: many"),
            r"task.yaml:12: optimizer.proposals_per_call: must be an integer",
        ),
        (
            lambda t: t.replace("  initial: 2", "  inital: 2"),
            r"optimizer.inital: unknown key; did you mean 'initial'",
        ),
        (
            lambda t: t.replace("prompt:\n  task:", "prompt:\n  text:"),
            r"task.yaml:7: prompt.text: unknown key",
        ),
        (
            lambda t: t + "seeds: [x + 1, hello]\n",
            r"task.yaml:14: seeds\[1\]: 'hello' is not a valid candidate",
        ),
        (lambda t: t.replace("name: quad", "name: [quad"), r"task.yaml:\d+: invalid YAML"),
    ],
)
def test_task_validation_errors_name_file_line_and_key(tmp_path, mutate, message):
    path = _task(tmp_path, mutate(EXPR_TASK))
    with pytest.raises(TaskError, match=message) as info:
        load_task(path)
    assert info.value.exit_code == 2 and str(path) in str(info.value)


def test_task_validation_word_and_structure():
    with pytest.raises(TaskError, match="missing"):
        parse_task({"objective": {"kind": "word_similarity", "hidden": "cat"}}, "t.yaml")
    with pytest.raises(TaskError, match="objective.hidden: must be one word"):
        parse_task(
            {"objective": {"kind": "word_similarity", "hidden": "two words"}, "prompt": {"task": "go"}},
            "t.yaml",
        )
    with pytest.raises(TaskError, match="unknown optimisation task 'guess-wrd'; did you mean guess-word"):
        load_task("guess-wrd")


# -- end to end against the scripted OpenAI-compatible server --------------------------------------

WORDS = ("garden harden warden gardens gander border pardon reason random tandem sudden golden burden apple "
         "tree").split()


def _word_task(tmp_path: Path) -> Path:
    return _task(
        tmp_path,
        """\
name: word
objective: {kind: word_similarity, hidden: garden, embedding: hash}
prompt:
  task: "Guess the secret word. {data}"
  answer_format: one word per line
seeds: [river]
optimizer: {evaluations: 9, initial: 3, proposals_per_call: 3, embedding: model}
""",
        "word.yaml",
    )


def _scripted(fake_llm):
    """Plain prompts get three random words; conditioned (BOPRO) prompts get 'gardens' and two random ones."""
    rng = random.Random(0)

    def answer(req):
        if "tried so far" in req.last_user:
            return "1. gardens\n2. " + "\n".join(rng.sample(WORDS, 2))
        return "\n".join(rng.sample(WORDS, 3))

    fake_llm.script([], default=answer)


def _optimize_cli(run_hrm, fake_llm, tmp_path, *extra: str):
    """`hrm agent optimize` on the word task against the fake server, hash embeddings, seed 3."""
    return run_hrm("agent", "optimize", str(_word_task(tmp_path)), "--backend", "openai", "--base-url", fake_llm.url,
                   "--embedding", "hash", "--seed", "3", *extra, timeout=60)


def test_optimize_end_to_end_through_the_cli(fake_llm, run_hrm, tmp_path):
    _scripted(fake_llm)
    proc = _optimize_cli(run_hrm, fake_llm, tmp_path, "--json", "--runs-dir", str(tmp_path / "runs"))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    run = Path(result["run_dir"])
    assert run.parent == tmp_path / "runs" and result["status"] == "done"
    curve = json.loads((run / "curve.json").read_text())
    assert curve["evaluations"] == 9 and len(curve["bopro"]) == 9 and len(curve["random"]) == 9
    assert curve["bopro"][:3] == curve["random"][:3]  # the shared initial design
    for c in (curve["bopro"], curve["random"]):
        assert all(b >= a for a, b in zip(c, c[1:]))
    records = [json.loads(line) for line in (run / "candidates.jsonl").read_text().splitlines()]
    assert [r["arm"] for r in records] == ["initial"] * 3 + ["bopro"] * 6 + ["random"] * 6
    assert records[0]["candidate"] == "river" and records[0]["source"] == "seed"
    for arm in ("bopro", "random"):
        cands = [r["candidate"] for r in records if r["arm"] in ("initial", arm)]
        assert len(set(cands)) == 9  # never evaluates the same candidate twice
        assert set(cands) <= set(WORDS) | {"river"}
    assert all("acquisition" in r for r in records if r["arm"] == "bopro")
    assert (
        result["arms"]["bopro"]["best_score"]
        == max(curve["bopro"])
        == max(r["score"] for r in records if r["arm"] in ("initial", "bopro"))
    )

    events = [json.loads(line) for line in (run / "trace.jsonl").read_text().splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "run_start" and kinds[-1] == "run_end"
    assert {"model_call", "candidate", "gp_fit", "acquisition"} <= set(kinds)
    assert [e["seq"] for e in events] == list(range(len(events)))
    fits = [e for e in events if e["event"] == "gp_fit"]
    assert len(fits) == 6 and [f["n"] for f in fits] == list(range(3, 9))
    assert all(
        f["length_scale"] > 0 and f["noise"] > 0 and math.isfinite(f["log_marginal_likelihood"]) for f in fits
    )
    # every BOPRO prompt shows the best candidate so far with its score
    bopro_calls = [e for e in events if e["event"] == "model_call" and e["role"] == "propose_bopro"]
    assert len(bopro_calls) == 6
    for call in bopro_calls:
        prior = [
            e
            for e in events
            if e["event"] == "candidate" and e["arm"] in ("initial", "bopro") and e["seq"] < call["seq"]
        ]
        best = max(prior, key=lambda e: e["score"])
        assert f"The best so far is {best['candidate']} with score" in call["messages"][-1]["content"]
    plain = [r for r in fake_llm.chat_requests if "tried so far" not in r.last_user]
    assert all(r.body["temperature"] == 0.8 for r in fake_llm.chat_requests)
    assert len(plain) + len(bopro_calls) == len(fake_llm.chat_requests)

    # the table view renders from the same run without a model call
    _scripted(fake_llm)
    shown = _optimize_cli(run_hrm, fake_llm, tmp_path, "-n", "5", "--no-baseline", "--runs-dir", str(tmp_path / "runs2"))
    assert shown.returncode == 0, shown.stderr
    assert "bopro best" in shown.stdout and "random best" not in shown.stdout and "river" in shown.stdout


def test_optimize_is_reproducible_with_a_seed(fake_llm, tmp_path):
    from hrm_agent.backends.http import make_backend
    from hrm_agent.optimize.bopro import optimize

    curves = []
    for i in range(2):
        _scripted(fake_llm)
        task = load_task(_word_task(tmp_path))
        result = optimize(
            task,
            make_backend("openai", base_url=fake_llm.url),
            HashEmbedder(),
            seed=5,
            evaluations=7,
            runs_dir=tmp_path / f"r{i}",
            baseline=False,
        )
        records = (Path(result["run_dir"]) / "candidates.jsonl").read_text().splitlines()
        curves.append([json.loads(line)["candidate"] for line in records])
    assert curves[0] == curves[1] and len(curves[0]) == 7


def test_optimize_bad_input_exits_2(run_hrm, tmp_path, dead_llm_url):
    bad = _task(tmp_path, EXPR_TASK.replace("expression_fit", "regression"))
    proc = run_hrm("agent", "optimize", str(bad), "--backend", "openai", "--base-url", dead_llm_url)
    assert proc.returncode == 2 and "objective.kind" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_hrm("agent", "optimize", str(bad).replace("task", "nope"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    good = _task(tmp_path, EXPR_TASK, "good.yaml")
    from typer.testing import CliRunner

    from hrm_cli.main import app

    for args, message in (
        (["--acquisition", "pi"], "--acquisition 'pi'"),
        (["-n", "0"], "--evaluations must be >= 1"),
        (["--kernel", "linear"], "--kernel 'linear'"),
    ):
        res = CliRunner().invoke(app, ["agent", "optimize", str(good), "--backend", "openai", *args])
        assert isinstance(res.exception, AgentError) and res.exception.exit_code == 2
        assert message in str(res.exception)


def test_optimize_dead_server_exits_3_and_still_writes_the_run(run_hrm, tmp_path, dead_llm_url):
    good = _task(tmp_path, EXPR_TASK, "good.yaml")
    proc = run_hrm(
        "agent",
        "optimize",
        str(good),
        "--backend",
        "openai",
        "--base-url",
        dead_llm_url,
        "--embedding",
        "hash",
        "--runs-dir",
        str(tmp_path / "runs"),
        timeout=60,
    )
    assert proc.returncode == 3 and "cannot connect" in proc.stderr and "Traceback" not in proc.stderr
    [run] = (tmp_path / "runs").iterdir()
    result = json.loads((run / "result.json").read_text())
    assert result["status"] == "backend_error" and result["arms"] == {}
    assert json.loads((run / "trace.jsonl").read_text().splitlines()[-1])["event"] == "run_end"


# -- several seeds: BOPRO against random search with intervals --------------------------------------


def test_t_interval_and_padded_curve_by_hand():
    from hrm_agent.optimize.bopro import padded_curve, t_interval

    m, lo, hi = t_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    half = 2.7764451051977987 * math.sqrt(2.5) / math.sqrt(5)  # t(0.975, 4) * s / sqrt(n)
    assert (m, lo, hi) == pytest.approx((3.0, 3.0 - half, 3.0 + half))
    assert math.isnan(t_interval([1.0])[1])
    assert padded_curve([0.1, 0.3], 4) == [0.1, 0.3, 0.3, 0.3]  # an arm that stopped keeps its best
    assert padded_curve([0.1, 0.3, 0.5], 2) == [0.1, 0.3]


def test_optimize_seeds_compares_with_intervals_and_resumes(fake_llm, run_hrm, tmp_path):
    from PIL import Image

    from hrm_agent.optimize.bopro import padded_curve, t_interval

    _scripted(fake_llm)
    runs = tmp_path / "runs"
    proc = _optimize_cli(run_hrm, fake_llm, tmp_path, "--seeds", "3", "-n", "6", "--id", "cmp", "--json",
                         "--runs-dir", str(runs))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["seeds"] == [3, 4, 5] and summary["complete"] and summary["runs"] == 3
    assert json.loads((runs / "cmp" / "comparison.json").read_text()) == summary
    curves = {arm: [] for arm in ("bopro", "random")}
    for s in (3, 4, 5):
        result = json.loads((runs / "cmp" / f"seed-{s}" / "result.json").read_text())
        assert result["seed"] == s and result["status"] == "done"
        for arm in curves:
            curves[arm].append(padded_curve(result["curves"][arm], 6))
    assert [r["evaluation"] for r in summary["curve"]] == list(range(1, 7))
    for k, row in enumerate(summary["curve"]):
        for arm in curves:
            m, lo, hi = t_interval([c[k] for c in curves[arm]])
            assert row[arm]["mean"] == pytest.approx(m)
            assert row[arm]["lower"] == pytest.approx(lo, nan_ok=True)
            assert row[arm]["lower"] <= row[arm]["mean"] <= row[arm]["upper"] or math.isnan(lo)
        diffs = [b[k] - r[k] for b, r in zip(curves["bopro"], curves["random"])]
        assert row["difference"]["mean"] == pytest.approx(float(np.mean(diffs)))
    for k in range(3):  # the shared initial design: no difference in any seed
        assert summary["curve"][k]["difference"]["mean"] == 0.0
    finals = [(b[-1], r[-1]) for b, r in zip(curves["bopro"], curves["random"])]
    assert summary["bopro_wins"] == sum(b > r for b, r in finals)
    assert summary["bopro_wins"] + summary["random_wins"] + summary["ties"] == 3
    with Image.open(summary["plot"]) as im:
        assert im.format == "PNG" and im.size == (760, 440)

    calls = len(fake_llm.chat_requests)
    again = _optimize_cli(run_hrm, fake_llm, tmp_path, "--seeds", "3", "-n", "6", "--id", "cmp",
                          "--runs-dir", str(runs))
    assert again.returncode == 0, again.stderr
    assert len(fake_llm.chat_requests) == calls  # every seed reused: no model call
    assert "(reused)" in again.stderr and "bopro - random" in again.stdout and "t interval" in again.stdout


def test_optimize_seeds_bad_input_exits_2(run_hrm, tmp_path, dead_llm_url):
    good = _task(tmp_path, EXPR_TASK, "good.yaml")
    for args, message in ((["--seeds", "1"], "--seeds must be >= 2"),
                          (["--seeds", "3", "--no-baseline"], "drop --no-baseline"),
                          (["--id", "x"], "give --seeds N too")):
        proc = run_hrm("agent", "optimize", str(good), "--backend", "openai", "--base-url", dead_llm_url, *args)
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
