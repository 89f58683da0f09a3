#!/usr/bin/python3
"""Reference CartPole trajectories for tests/test_rl_dqn.c, written from the equations of
Barto, Sutton & Anderson (1983) as Gym's CartPole-v1 states them (Florian 2007's correction
not applied, as Gym), independently of src/rl/env_cartpole.c.

    python3 tests/ref/gen_cartpole.py   ->  tests/fixtures/rl/cartpole.bin

Arrays: s0 [K,4] start states (float32-exact), actions [K,T] (0/1), traj [K,T,4] the states
after each step (float64 maths, stored as float32), fail_step [K] the first step (1-based)
whose state lies outside the limits (0: none within T)."""
import math
import os

import numpy as np

import gen_torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "rl")

G, MC, MP, L, F, TAU = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02


def step(s, a):
    x, v, th, w = s
    f = F if a == 1 else -F
    m = MC + MP
    # the pole's angular acceleration (BSA 1983, frictionless), then the cart's
    num = G * math.sin(th) + math.cos(th) * (-f - MP * L * w * w * math.sin(th)) / m
    den = L * (4.0 / 3.0 - MP * math.cos(th) ** 2 / m)
    alpha = num / den
    acc = (f + MP * L * (w * w * math.sin(th) - alpha * math.cos(th))) / m
    return (x + TAU * v, v + TAU * acc, th + TAU * w, w + TAU * alpha)


def failed(s):
    return abs(s[0]) > 2.4 or abs(s[2]) > 12 * 2 * math.pi / 360


def main():
    rng = np.random.default_rng(7)
    K, T = 4, 60
    s0 = rng.uniform(-0.05, 0.05, size=(K, 4)).astype(np.float32)
    actions = rng.integers(0, 2, size=(K, T))
    actions[2, :] = 1  # pushes one way until the pole falls
    actions[3, :] = 0
    traj = np.zeros((K, T, 4))
    fail = np.zeros(K)
    for k in range(K):
        s = tuple(float(v) for v in s0[k])
        for t in range(T):
            s = step(s, int(actions[k, t]))
            traj[k, t] = s
            if fail[k] == 0 and failed(s):
                fail[k] = t + 1
    gen_torch.write("cartpole", "cartpole-v1", (K, T, 0, 0), 0,
                    {"s0": s0, "actions": actions, "traj": traj, "fail_step": fail}, out=OUT)


if __name__ == "__main__":
    main()
