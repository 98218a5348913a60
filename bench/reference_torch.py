"""PyTorch references for bench/reference: optdigits and MNIST accuracy, and
the training throughput rows bench/run puts beside Parasol's.

    reference_torch.py TARGET [--quick]

Prints one line: "TARGET METRIC VALUE SECONDS TOOL". One thread, fixed seeds
(set OPENBLAS_NUM_THREADS=1 in the environment too: bench/reference does).
"""
import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

import reference_data as rd

SEED = 1
BATCH = 128


def softmax_net(nin):
    return nn.Linear(nin, 10)


def mlp_net(nin):
    return nn.Sequential(nn.Linear(nin, 256), nn.ReLU(), nn.Linear(256, 10))


def cnn_net(side):
    """5x5 conv of 32 filters (no padding), ReLU, 2x2 max-pool, dense 128, ReLU, dense 10."""
    pooled = (side - 4) // 2
    return nn.Sequential(nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(32 * pooled * pooled, 128), nn.ReLU(), nn.Linear(128, 10))


def train(net, x, y, epochs, lr, momentum):
    """Minibatch SGD on the softmax cross-entropy, reshuffled each epoch by a
    seeded generator. Returns the examples trained on."""
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)
    gen = torch.Generator().manual_seed(SEED)
    n = x.shape[0]
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        for s in range(0, n, BATCH):
            idx = order[s:s + BATCH]
            opt.zero_grad()
            F.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
    return epochs * n


def accuracy(net, x, y):
    with torch.no_grad():
        return (net(x).argmax(1) == y).double().mean().item()


def tensors(arrays):
    return [torch.from_numpy(a) for a in arrays]


# name: (data, flatten, network, epochs, lr, momentum). Inputs are not
# standardized: optdigits' counts go up to 16, MNIST's pixels to 1, hence a
# smaller step for optdigits.
TARGETS = {
    "optdigits_torch_softmax": ("optdigits", True, softmax_net, 10, 0.01, 0.9),
    "optdigits_torch_mlp": ("optdigits", True, mlp_net, 10, 0.01, 0.9),
    "mnist_torch_softmax": ("mnist", True, softmax_net, 10, 0.05, 0.9),
    "mnist_torch_mlp": ("mnist", True, mlp_net, 10, 0.05, 0.9),
    "mnist_torch_cnn": ("mnist", False, cnn_net, 10, 0.05, 0.9),
}
# name: (network, flatten, epochs, quick epochs)
THROUGHPUT = {
    "torch_mlp_examples_s": (mlp_net, True, 20, 5),
    "torch_cnn_examples_s": (cnn_net, False, 3, 1),
}


def load(data, flatten):
    xtr, ytr, xte, yte = tensors(rd.optdigits() if data == "optdigits" else rd.mnist())
    if flatten:
        xtr, xte = xtr.reshape(len(xtr), -1), xte.reshape(len(xte), -1)
    return xtr, ytr, xte, yte


def net_for(make, flatten, xtr):
    return make(xtr.shape[1] if flatten else xtr.shape[-1])


def run_accuracy(name):
    data, flatten, make, epochs, lr, momentum = TARGETS[name]
    xtr, ytr, xte, yte = load(data, flatten)
    torch.manual_seed(SEED)
    t0 = time.perf_counter()
    net = net_for(make, flatten, xtr)
    train(net, xtr, ytr, epochs, lr, momentum)
    acc = accuracy(net, xte, yte)
    return "accuracy", "%.4f" % acc, time.perf_counter() - t0


def run_throughput(name, quick):
    """Training examples per second on MNIST's 8000 training images, batch
    128; the clock starts after one warm-up batch."""
    make, flatten, epochs, quick_epochs = THROUGHPUT[name]
    xtr, ytr, _, _ = load("mnist", flatten)
    torch.manual_seed(SEED)
    net = net_for(make, flatten, xtr)
    train(net, xtr[:BATCH], ytr[:BATCH], 1, 0.05, 0.9)
    t0 = time.perf_counter()
    n = train(net, xtr, ytr, quick_epochs if quick else epochs, 0.05, 0.9)
    secs = time.perf_counter() - t0
    return "examples/s", "%.0f" % (n / secs), secs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("target", choices=sorted(TARGETS) + sorted(THROUGHPUT))
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.target in TARGETS:
        metric, value, secs = run_accuracy(a.target)
    else:
        metric, value, secs = run_throughput(a.target, a.quick)
    print("%s %s %s %.2f pytorch-%s" % (a.target, metric, value, secs, torch.__version__))


if __name__ == "__main__":
    main()
