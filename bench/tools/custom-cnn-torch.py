"""PyTorch reference for bench/custom-cnn-train.ts: the same custom CNN, head, loss and optimizer.

usage: custom-cnn-torch.py THREADS STEPS BATCH SIZE[,SIZE...]
Prints one JSON line: images/s per size (median step after a warm-up), for the default NCHW
layout and for channels_last, and the version and threads used.
"""
import json
import statistics
import sys
import time

import torch
from torch import nn

threads, steps, batch = (int(a) for a in sys.argv[1:4])
sizes = [int(s) for s in sys.argv[4].split(',')]
torch.set_num_threads(threads)
torch.manual_seed(1)


class Rescale(nn.Module):
    def forward(self, x):
        return x * (1 / 255)


def network():
    layers, channels = [Rescale()], 3
    for filters in (32, 64, 128, 256, 512):
        layers += [nn.Conv2d(channels, filters, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2)]
        channels = filters
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Dropout(0.4), nn.Linear(128, 1), nn.Sigmoid()]
    return nn.Sequential(*layers)


def rate(size, channels_last):
    model = network()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.BCELoss()
    x = (torch.rand(batch, 3, size, size) * 255).contiguous(memory_format=fmt)
    y = (torch.rand(batch, 1) > 0.5).float()
    times = []
    for i in range(steps + 1):
        t = time.perf_counter()
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        if i > 0:
            times.append(time.perf_counter() - t)
    return batch / statistics.median(times)


out = {'version': torch.__version__, 'threads': torch.get_num_threads(), 'sizes': {}}
for size in sizes:
    out['sizes'][str(size)] = {'nchw': rate(size, False), 'channels_last': rate(size, True)}
print(json.dumps(out))
