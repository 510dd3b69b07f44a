import numpy as np
import pytest
import torch

from skelcmd.config import load_config
from skelcmd.data.format import open_dataset
from skelcmd.errors import UserError
from skelcmd.evaluate.knn import KNNConfig, knn_accuracy, knn_eval, knn_topk, knn_vote
from skelcmd.model import build_model
from skelcmd.synthetic.generator import write_synthetic


def plain_knn(gallery, queries, gallery_labels, k, num_classes):
    """One query at a time: cosine similarities (averaged over streams), sorted, then a
    majority vote among the k nearest with ties broken by the summed similarity."""
    predictions, neighbours = [], []
    for i in range(len(queries[0])):
        sims = np.zeros(len(gallery[0]))
        for g, q in zip(gallery, queries, strict=True):
            for j in range(len(g)):
                sims[j] += np.dot(q[i], g[j]) / (np.linalg.norm(q[i]) * np.linalg.norm(g[j]))
        sims /= len(gallery)
        order = np.argsort(-sims, kind="stable")[:k]
        neighbours.append(order)
        votes, total = [0] * num_classes, [0.0] * num_classes
        for j in order:
            votes[gallery_labels[j]] += 1
            total[gallery_labels[j]] += sims[j]
        best = max(range(num_classes), key=lambda c: (votes[c], total[c], -c))
        predictions.append(best)
    return np.array(predictions), np.array(neighbours)


@pytest.fixture
def features():
    rng = np.random.default_rng(0)
    gallery = [rng.normal(size=(50, 16)), rng.normal(size=(50, 8))]
    queries = [rng.normal(size=(33, 16)), rng.normal(size=(33, 8))]
    return gallery, queries, rng.integers(0, 4, 50), rng.integers(0, 4, 33)


@pytest.mark.parametrize("k", [1, 5])
@pytest.mark.parametrize("streams", [1, 2])
def test_knn_matches_a_plain_loop(features, k, streams):
    gallery, queries, g_labels, q_labels = features
    gallery, queries = gallery[:streams], queries[:streams]
    expected, neighbours = plain_knn(gallery, queries, g_labels, k, 4)
    as_t = [torch.as_tensor(x) for x in gallery], [torch.as_tensor(x) for x in queries]
    sims, index = knn_topk(*as_t, k, chunk=7)  # blocks smaller than both sets
    assert np.array_equal(index.numpy(), neighbours)
    predicted = knn_vote(sims, index, torch.as_tensor(g_labels), k, 4)
    assert np.array_equal(predicted.numpy(), expected)
    accuracy = knn_accuracy(*as_t, torch.as_tensor(g_labels), torch.as_tensor(q_labels), [k])
    assert accuracy[k] == pytest.approx(100.0 * np.mean(expected == q_labels))


def test_chunk_size_does_not_change_the_result(features):
    gallery, queries, *_ = features
    g, q = torch.as_tensor(gallery[0]), torch.as_tensor(queries[0])
    full = torch.nn.functional.normalize(q, dim=1) @ torch.nn.functional.normalize(g, dim=1).T
    top = full.topk(20, dim=1)
    for chunk in (1, 3, 20, 4096):
        sims, index = knn_topk(g, q, 20, chunk=chunk)
        assert torch.allclose(sims, top.values) and torch.equal(index, top.indices)


def test_ensemble_of_identical_streams_equals_one_stream(features):
    gallery, queries, *_ = features
    g, q = torch.as_tensor(gallery[0]), torch.as_tensor(queries[0])
    one = knn_topk(g, q, 5, chunk=8)
    two = knn_topk([g, g], [q, q], 5, chunk=8)
    assert torch.equal(one[0], two[0]) and torch.equal(one[1], two[1])
    three = knn_topk([g, g, g], [q, q, q], 5, chunk=8)
    assert torch.allclose(one[0], three[0]) and torch.equal(one[1], three[1])


def test_votes_break_ties_by_summed_similarity():
    labels = torch.tensor([0, 1, 1, 2])
    # k = 2: one vote each for classes 0 and 1; class 1's neighbour is closer.
    sims, index = torch.tensor([[0.9, 0.8]]), torch.tensor([[1, 0]])
    assert knn_vote(sims, index, labels, 2, 3).item() == 1
    # k = 3: class 1 has two votes and wins over class 2's single, closer neighbour.
    sims, index = torch.tensor([[0.99, 0.5, 0.4]]), torch.tensor([[3, 1, 2]])
    assert knn_vote(sims, index, labels, 3, 3).item() == 1
    assert knn_vote(sims, index, labels, 1, 3).item() == 2
    with pytest.raises(UserError, match="gallery has 4"):
        knn_topk(torch.ones(4, 2), torch.ones(1, 2), 5)


def test_knn_eval_on_a_tiny_model(tmp_path):
    (path,) = write_synthetic(tmp_path, num_samples=96, seed=1, benchmarks=["xsub"])
    dataset = open_dataset(path)
    config = load_config(
        None, ["model.encoder_args={hidden: 8, num_layers: 1}", "model.queue_size=32", "cmd.topk=8"]
    )
    model = build_model(config, dataset.layout, 2)
    results = knn_eval(model, dataset, KNNConfig(ks=[1, 3], frames=16, chunk=10), progress=False)
    assert [r["stream"] for r in results] == ["joint", "motion", "bone", "ensemble"]
    for result in results:
        assert set(result["top1_by_k"]) == {"1", "3"}
        assert result["top1"] == result["top1_by_k"]["1"] and 0 <= result["top1"] <= 100
        assert result["num_test"] == len(dataset.split("test"))
    (only,) = knn_eval(model, dataset, KNNConfig(frames=16), stream="bone", progress=False)
    assert only["top1"] == results[2]["top1"]
    with pytest.raises(UserError, match="not available"):
        knn_eval(model, dataset, KNNConfig(frames=16), stream="depth", progress=False)
