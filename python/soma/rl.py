"""Reinforcement learning (include/soma/rl.h): environments behind one interface and the
tabular control agents. The deep agents and world models run as experiments (soma.run:
"dqn-cartpole", "world-model-cartpole", ...)."""

import numpy as np

from ._ffi import ffi, lib, check, cstr, copy_out, run_long, ArgumentError, SOMA_ERR_ARG

_TAB_KINDS = ("q-learning", "sarsa", "expected-sarsa", "actor-critic", "dyna-q", "dyna-q+",
              "prioritized-sweeping")


class Env:
    """An environment: reset() -> observation, step(action) -> (observation, reward, done) with
    done 0 (running), 1 (terminal) or 2 (truncated at the step limit). Observations are new
    float32 arrays of obs_dim values. Build with Env.cartpole() or Env.grid(map)."""

    def __init__(self, ptr):
        self._p = ffi.gc(ptr, lib.soma_env_free)
        self._obs = np.zeros(max(ptr.obs_dim, 1), dtype=np.float32)
        self._pobs = ffi.from_buffer("float[]", self._obs)
        self._r = ffi.new("double *")
        self._d = ffi.new("int *")

    @classmethod
    def cartpole(cls, seed=1):
        """Barto, Sutton & Anderson's cart-pole (Gym's CartPole-v1 dynamics), seeded."""
        out = ffi.new("soma_env **")
        check(lib.soma_env_cartpole_new(out))
        env = cls(out[0])
        env.seed(seed)
        return env

    @classmethod
    def grid(cls, map="dyna", obs_rowcol=False, random_start=False, step_reward=0.0, max_steps=0, seed=1):
        """A gridworld from a text map ('#' wall, '.' free, 'S' start, 'G' goal, rows separated
        by newlines) or a built-in one: "dyna" (Sutton & Barto's figure 8.2), "blocking0",
        "blocking1", "shortcut0", "shortcut1". Observation: one-hot of the state, or (row, col)."""
        builtin = {"dyna": lambda: lib.soma_grid_map_dyna_maze(),
                   "blocking0": lambda: lib.soma_grid_map_blocking(0), "blocking1": lambda: lib.soma_grid_map_blocking(1),
                   "shortcut0": lambda: lib.soma_grid_map_shortcut(0), "shortcut1": lambda: lib.soma_grid_map_shortcut(1)}
        text = builtin[map]() if map in builtin else cstr(map, "map")
        cfg = ffi.new("soma_grid_config *", {"obs_rowcol": 1 if obs_rowcol else 0,
                                             "random_start": 1 if random_start else 0,
                                             "step_reward": float(step_reward), "max_steps": int(max_steps)})
        out = ffi.new("soma_env **")
        check(lib.soma_env_grid_new(out, text, cfg))
        env = cls(out[0])
        env.seed(seed)
        return env

    def seed(self, seed):
        """Reseeds the environment's own random stream."""
        check(lib.soma_env_seed(self._p, int(seed)))

    @property
    def obs_dim(self):
        """Floats in an observation."""
        return self._p.obs_dim

    @property
    def n_actions(self):
        """Discrete actions 0 .. n_actions - 1."""
        return self._p.n_actions

    @property
    def n_states(self):
        """Numbered states of a tabular environment (0 otherwise)."""
        return self._p.n_states

    @property
    def state(self):
        """The current state (tabular), -1 before reset."""
        return self._p.state

    def reset(self):
        """Starts an episode; returns the first observation (a new array)."""
        check(lib.soma_env_reset(self._p, self._pobs))
        return self._obs.copy()

    def step(self, action):
        """One step: (observation, reward, done)."""
        if not isinstance(action, (int, np.integer)) or isinstance(action, bool) or not 0 <= action < self._p.n_actions:
            raise ValueError(f"action: want an integer in [0, {self._p.n_actions}), got {action!r}")
        check(lib.soma_env_step(self._p, int(action), self._pobs, self._r, self._d))
        return self._obs.copy(), self._r[0], self._d[0]


class TabularAgent:
    """A tabular control agent over an environment's numbered states: "q-learning", "sarsa",
    "expected-sarsa", "actor-critic", "dyna-q", "dyna-q+", "prioritized-sweeping" (Sutton &
    Barto). Settings as soma_tab_config (alpha, gamma, epsilon, alpha_actor, planning_steps,
    kappa, theta, q_init); unset ones keep the C defaults."""

    def __init__(self, kind, n_states, n_actions, seed=1, **settings):
        if kind not in _TAB_KINDS:
            raise ArgumentError(SOMA_ERR_ARG, f"kind: {kind!r} is not one of {', '.join(_TAB_KINDS)}")
        k = _TAB_KINDS.index(kind)
        cfg = ffi.new("soma_tab_config *", lib.soma_tab_defaults(k))
        for key, v in settings.items():
            if key not in ("alpha", "gamma", "epsilon", "alpha_actor", "planning_steps", "kappa", "theta", "q_init"):
                raise TypeError(f"TabularAgent: unknown setting {key!r}")
            setattr(cfg, key, int(v) if key == "planning_steps" else float(v))
        out = ffi.new("soma_tab **")
        check(lib.soma_tab_new(out, k, int(n_states), int(n_actions), cfg, int(seed)))
        self._p = ffi.gc(out[0], lib.soma_tab_free)
        self.kind, self.n_states, self.n_actions = kind, int(n_states), int(n_actions)

    def _env_ok(self, env):
        if not isinstance(env, Env):
            raise TypeError("env: want a soma.Env")

    def episode(self, env, max_steps=100000):
        """Runs one learning episode on env: (steps, undiscounted return)."""
        self._env_ok(env)
        obs = np.zeros(max(env.obs_dim, 1), np.float32)
        steps, ret = ffi.new("long *"), ffi.new("double *")
        run_long(lib.soma_tab_episode, self._p, env._p, ffi.from_buffer("float[]", obs), int(max_steps), steps, ret)
        return steps[0], ret[0]

    def greedy_steps(self, env, max_steps=100000):
        """The length of one greedy episode (learning nothing); max_steps if it never ends."""
        self._env_ok(env)
        obs = np.zeros(max(env.obs_dim, 1), np.float32)
        steps = ffi.new("long *")
        run_long(lib.soma_tab_greedy_steps, self._p, env._p, ffi.from_buffer("float[]", obs), int(max_steps), steps)
        return steps[0]

    @property
    def q(self):
        """The action values [n_states, n_actions] (actor-critic: the preferences), a copy."""
        return copy_out(lib.soma_tab_q(self._p), self.n_states * self.n_actions, np.float64).reshape(
            self.n_states, self.n_actions)

    @property
    def updates(self):
        """Value-table updates so far (real and simulated)."""
        return lib.soma_tab_updates(self._p)
