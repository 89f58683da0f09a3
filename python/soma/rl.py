"""Reinforcement learning (include/soma/rl.h): environments behind one interface (cart-pole,
gridworlds, classical-conditioning trials, k-armed bandits), the tabular control agents, the
bandit agents (epsilon-greedy, UCB, gradient), the deep Q-network
(DQN, with run_episode for a Python episode loop on any Env), the learned world model, the
TD(lambda) model of dopamine with its stimulus representations, and the successor
representation as functions on NumPy arrays. The full experiments stay in soma.run
("dqn-cartpole", "world-model-cartpole", ...)."""

import numpy as np

from ._ffi import ffi, lib, check, cstr, copy_out, run_long, as_array, ArgumentError, SOMA_ERR_ARG

_TAB_KINDS = ("q-learning", "sarsa", "expected-sarsa", "actor-critic", "dyna-q", "dyna-q+",
              "prioritized-sweeping")


class Env:
    """An environment: reset() -> observation, step(action) -> (observation, reward, done) with
    done 0 (running), 1 (terminal) or 2 (truncated at the step limit). Observations are new
    float32 arrays of obs_dim values. Build with Env.cartpole(), Env.grid(map),
    Env.conditioning() or Env.bandit()."""

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

    @classmethod
    def conditioning(cls, seed=1, **settings):
        """Classical-conditioning trials (soma_conditioning_config): obs = [CS, US], one action,
        an episode is one trial of n_steps steps. Settings: n_steps, cs_onset, cs_jitter,
        cs_duration, isi (ints), reward, p_reward, p_omission, p_probe (floats); unset ones keep
        the C defaults (25 steps, CS at 5, US 6 steps later, reward 1)."""
        cfg = ffi.new("soma_conditioning_config *", lib.soma_conditioning_defaults())
        _settings(cfg, settings, ("n_steps", "cs_onset", "cs_jitter", "cs_duration", "isi"),
                  ("reward", "p_reward", "p_omission", "p_probe"), "Env.conditioning")
        out = ffi.new("soma_env **")
        check(lib.soma_env_conditioning_new(out, cfg))
        env = cls(out[0])
        env.seed(seed)
        return env

    @classmethod
    def bandit(cls, k=10, reward="gaussian", reward_sd=1.0, drift_sd=0.0, steps=1000, seed=1):
        """A k-armed bandit (soma_bandit_config; Sutton & Barto, chapter 2): one state (obs [0]),
        k actions, an episode of `steps` pulls (then done = 2, truncated). At each reset the
        arms' true values q* are drawn from the env's stream: N(0, 1) with rewards
        N(q*, reward_sd^2) (reward "gaussian"), or U(0, 1) with Bernoulli rewards ("bernoulli").
        drift_sd > 0: the values take a Gaussian random walk of that size each step (the
        non-stationary bandit). bandit_values() gives the true values and the best arm."""
        rewards = ("gaussian", "bernoulli")
        if reward not in rewards:
            raise ValueError(f"reward: {reward!r} is not one of {', '.join(rewards)}")
        cfg = ffi.new("soma_bandit_config *", lib.soma_bandit_defaults())
        cfg.reward = rewards.index(reward)
        _settings(cfg, {"k": k, "steps": steps}, ("k", "steps"), (), "Env.bandit")
        _settings(cfg, {"reward_sd": reward_sd, "drift_sd": drift_sd}, (), ("reward_sd", "drift_sd"), "Env.bandit")
        out = ffi.new("soma_env **")
        check(lib.soma_env_bandit_new(out, cfg))
        env = cls(out[0])
        env.seed(seed)
        env._bandit_steps = int(cfg.steps)
        return env

    def bandit_values(self):
        """Bandit envs, after reset: (the arms' true values now, float64 [k], the best arm)."""
        k = self._p.n_actions
        q = np.empty(k, np.float64)
        best = ffi.new("int *")
        check(lib.soma_env_bandit_values(self._p, ffi.cast("double *", ffi.from_buffer(q)), k, best))
        return q, best[0]

    def force_trial(self, kind):
        """Conditioning envs: the next trials' kind, "rewarded", "omission", "probe", "normal"
        (drawn with p_reward), or "draw" (back to the probabilities)."""
        kinds = {"draw": -1, "normal": 0, "rewarded": 1, "omission": 2, "probe": 3}
        if kind not in kinds:
            raise ValueError(f"kind: {kind!r} is not one of {', '.join(kinds)}")
        check(lib.soma_env_conditioning_force(self._p, kinds[kind]))

    def trial(self):
        """Conditioning envs, after reset: the current trial as a dict kind, cs_onset, us_time,
        us_given."""
        info = ffi.new("soma_trial_info *")
        check(lib.soma_env_conditioning_trial(self._p, info))
        names = ("normal", "rewarded", "omission", "probe")
        return {"kind": names[info.kind] if 0 <= info.kind < 4 else info.kind, "cs_onset": info.cs_onset,
                "us_time": info.us_time, "us_given": bool(info.us_given)}

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


_BANDIT_KINDS = ("epsilon-greedy", "ucb", "gradient")


class BanditAgent:
    """A bandit agent (soma_bandit_agent; Sutton & Barto, chapter 2) over k arms:
    "epsilon-greedy" (action-value estimates by sample averages, or a constant step alpha > 0;
    explores with probability epsilon), "ucb" (Q + c sqrt(ln t / N), untried arms first) or
    "gradient" (softmax over preferences, step alpha, a mean-reward baseline unless
    baseline=False). Settings: epsilon (default 0.1), c (2), alpha (0: sample averages;
    gradient 0.1), q0 (initial estimates, 0), baseline; unset ones keep the C defaults. The
    agent draws its exploration from its own stream, soma_rng_seed(seed, 0).

        env = soma.Env.bandit(k=10, steps=1000, seed=1)
        agent = soma.BanditAgent("epsilon-greedy", 10, epsilon=0.1, seed=1)
        rewards, optimal = agent.run(env, runs=200)   # [200, 1000] each
        curve, share = rewards.mean(0), optimal.mean(0)"""

    def __init__(self, kind, k, seed=1, **settings):
        if kind not in _BANDIT_KINDS:
            raise ArgumentError(SOMA_ERR_ARG, f"kind: {kind!r} is not one of {', '.join(_BANDIT_KINDS)}")
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
            raise ValueError(f"k: want an integer, got {k!r}")
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed: want an integer >= 0, got {seed!r}")
        cfg = ffi.new("soma_bandit_agent_config *", lib.soma_bandit_agent_defaults(_BANDIT_KINDS.index(kind), int(k)))
        if "baseline" in settings:
            b = settings.pop("baseline")
            if not isinstance(b, (bool, int, np.integer)):
                raise ValueError(f"baseline: want True or False, got {b!r}")
            cfg.baseline = 1 if b else 0
        _settings(cfg, settings, (), ("epsilon", "c", "alpha", "q0"), "BanditAgent")
        out = ffi.new("soma_bandit_agent **")
        check(lib.soma_bandit_agent_new(out, cfg))
        self._p = ffi.gc(out[0], lib.soma_bandit_agent_free)
        self.kind, self.k, self.seed = kind, int(k), int(seed)
        self._rng = ffi.new("soma_rng *")
        lib.soma_rng_seed(self._rng, self.seed, 0)

    def act(self):
        """The next arm to pull (drawn from the agent's stream)."""
        return lib.soma_bandit_agent_act(self._p, self._rng)

    def update(self, action, reward):
        """Learns from one pull of `action` that paid `reward`."""
        a = _action(action, self.k)
        if isinstance(reward, bool) or not isinstance(reward, (int, float, np.integer, np.floating)) or not np.isfinite(reward):
            raise ValueError(f"reward: want a finite number, got {reward!r}")
        lib.soma_bandit_agent_update(self._p, a, float(reward))

    def reset(self):
        """Forgets everything learned (the stream goes on)."""
        lib.soma_bandit_agent_reset(self._p)

    @property
    def values(self):
        """The estimates (epsilon-greedy, UCB) or action probabilities (gradient), float64 [k]."""
        return copy_out(lib.soma_bandit_agent_values(self._p), self.k, np.float64)

    def run(self, env, runs=1):
        """runs independent episodes of a bandit env (each: env.reset(), which draws new true
        values, and reset() of the agent, then one episode of pulls: act, step, update).
        Returns (rewards float64 [runs, steps], optimal bool [runs, steps]): optimal[r, t] is
        True when pull t chose an arm whose true value was the best one at that step (with
        drift the best arm moves). Mean over axis 0: the average-reward and %-optimal-action
        curves."""
        if not isinstance(env, Env) or not hasattr(env, "_bandit_steps"):
            raise TypeError("env: want a bandit soma.Env (Env.bandit)")
        if env.n_actions != self.k:
            raise ValueError(f"env: {env.n_actions} arms; the agent has {self.k}")
        if not isinstance(runs, (int, np.integer)) or isinstance(runs, bool) or runs < 1:
            raise ValueError(f"runs: want an integer >= 1, got {runs!r}")
        T, k = env._bandit_steps, self.k
        rewards = np.zeros((int(runs), T), np.float64)
        optimal = np.zeros((int(runs), T), bool)
        q = np.empty(k, np.float64)
        pq = ffi.cast("double *", ffi.from_buffer(q))
        best, r, done = ffi.new("int *"), ffi.new("double *"), ffi.new("int *")
        a_p, e_p, rng, pobs = self._p, env._p, self._rng, env._pobs
        act, update, step, values = (lib.soma_bandit_agent_act, lib.soma_bandit_agent_update, lib.soma_env_step,
                                     lib.soma_env_bandit_values)
        for run in range(int(runs)):
            check(lib.soma_env_reset(e_p, pobs))
            lib.soma_bandit_agent_reset(a_p)
            for t in range(T):
                check(values(e_p, pq, k, best))
                a = act(a_p, rng)
                check(step(e_p, a, pobs, r, done))
                update(a_p, a, r[0])
                rewards[run, t] = r[0]
                optimal[run, t] = q[a] == q[best[0]]
                if done[0]:
                    break
        return rewards, optimal


def _settings(cfg, settings, ints, floats, who):
    for key, v in settings.items():
        if key in ints:
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
                raise ValueError(f"{key}: want an integer, got {v!r}")
            setattr(cfg, key, int(v))
        elif key in floats:
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not np.isfinite(v):
                raise ValueError(f"{key}: want a finite number, got {v!r}")
            setattr(cfg, key, float(v))
        else:
            raise TypeError(f"{who}: unknown setting {key!r}; the settings are {', '.join(ints + floats)}")


def _obs(x, dim, name="obs"):
    return as_array(x, np.float32, name, shape=(dim,))


def _action(a, n):
    if not isinstance(a, (int, np.integer)) or isinstance(a, bool) or not 0 <= a < n:
        raise ValueError(f"action: want an integer in [0, {n}), got {a!r}")
    return int(a)


class DQN:
    """A deep Q-network (Mnih et al. 2015; soma_dqn): a Q net from a hidden-layer spec (an output
    layer of n_actions is appended), experience replay, a target net (hard syncs every
    target_update gradient steps, or Polyak averaging with tau when 0), epsilon-greedy
    exploration decayed linearly, Huber or squared TD loss, double DQN, Adam.

        agent = soma.DQN(4, 2, net="fc64,relu", learn_start=200, seed=1)
        env = soma.Env.cartpole(seed=1)
        for ep in range(100):
            steps, ret, loss = agent.run_episode(env)

    Settings (soma_dqn_config; unset ones keep the C defaults): net, gamma, lr, batch, buffer,
    learn_start, train_every, target_update, tau, eps_start, eps_end, eps_decay, double_dqn,
    huber, grad_clip, seed."""

    _INTS = ("batch", "buffer", "learn_start", "train_every", "target_update", "eps_decay", "double_dqn",
             "huber", "seed")
    _FLOATS = ("gamma", "lr", "tau", "eps_start", "eps_end", "grad_clip")

    def __init__(self, obs_dim, n_actions, net=None, **settings):
        cfg = ffi.new("soma_dqn_config *", lib.soma_dqn_defaults())
        keep = None
        if net is not None:
            keep = ffi.new("char[]", cstr(net, "net"))
            cfg.net = keep
        _settings(cfg, settings, self._INTS, self._FLOATS, "DQN")
        for k in ("obs_dim", "n_actions"):
            v = obs_dim if k == "obs_dim" else n_actions
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{k}: want an integer >= 1, got {v!r}")
        out = ffi.new("soma_dqn **")
        check(lib.soma_dqn_new(out, int(obs_dim), int(n_actions), cfg))
        del keep  # borrowed during soma_dqn_new only
        self._p = ffi.gc(out[0], lib.soma_dqn_free)
        self.obs_dim, self.n_actions = int(obs_dim), int(n_actions)
        self._q = np.zeros(self.n_actions, np.float32)
        self._loss = ffi.new("float *")

    def q(self, obs, target=False):
        """Q values [n_actions] (a new float32 array) of one observation, of the online net or
        (target=True) the target net."""
        obs, po = _obs(obs, self.obs_dim)
        q = np.empty(self.n_actions, np.float32)
        check(lib.soma_dqn_q(self._p, po, 1 if target else 0, ffi.cast("float *", ffi.from_buffer(q))))
        return q

    def act(self, obs, greedy=False):
        """The epsilon-greedy action (epsilon at the current env step), or the greedy one."""
        obs, po = _obs(obs, self.obs_dim)
        return lib.soma_dqn_act(self._p, po, 1 if greedy else 0)

    @property
    def epsilon(self):
        """The exploration rate at the current env step."""
        return lib.soma_dqn_epsilon(self._p)

    def observe(self, obs, action, reward, next_obs, done):
        """Records one env step (done as Env.step gives it: only 1, terminal, stops the
        bootstrap) and trains when due; returns the TD loss of the gradient step taken, or None."""
        obs, po = _obs(obs, self.obs_dim)
        nxt, pn = _obs(next_obs, self.obs_dim, "next_obs")
        a = _action(action, self.n_actions)
        if isinstance(reward, bool) or not isinstance(reward, (int, float, np.integer, np.floating)) or not np.isfinite(reward):
            raise ValueError(f"reward: want a finite number, got {reward!r}")
        if done not in (0, 1, 2):
            raise ValueError(f"done: want 0, 1 or 2, got {done!r}")
        check(lib.soma_dqn_observe(self._p, po, a, float(reward), pn, int(done), self._loss))
        return None if self._loss[0] == -1 else float(self._loss[0])

    def train_step(self):
        """One gradient step on a batch sampled from replay (the replay must hold a transition);
        returns its TD loss."""
        check(lib.soma_dqn_train_step(self._p, self._loss))
        return float(self._loss[0])

    def sync_target(self):
        """Copies the online net's values into the target net."""
        lib.soma_dqn_sync_target(self._p)

    @property
    def env_steps(self):
        """Env steps observed."""
        return lib.soma_dqn_env_steps(self._p)

    @property
    def grad_steps(self):
        """Gradient steps taken."""
        return lib.soma_dqn_grad_steps(self._p)

    def run_episode(self, env, learn=True, max_steps=100000):
        """One episode on env (a soma.Env with this agent's obs_dim and n_actions): act,
        step, observe (learn=True) or greedy actions without learning (learn=False). Returns
        (steps, undiscounted return, mean TD loss of the gradient steps taken or None)."""
        if not isinstance(env, Env):
            raise TypeError("env: want a soma.Env")
        if env.obs_dim != self.obs_dim or env.n_actions != self.n_actions:
            raise ValueError(f"env: obs_dim {env.obs_dim}, n_actions {env.n_actions}; the agent has "
                             f"{self.obs_dim}, {self.n_actions}")
        obs = env.reset()
        steps, ret, losses = 0, 0.0, []
        while steps < max_steps:
            a = self.act(obs, greedy=not learn)
            nxt, r, done = env.step(a)
            if learn:
                loss = self.observe(obs, a, r, nxt, done)
                if loss is not None:
                    losses.append(loss)
            steps += 1
            ret += r
            obs = nxt
            if done:
                break
        return steps, ret, (float(np.mean(losses)) if losses else None)

    def save(self, path):
        """A checkpoint: online net, Adam's state, target net, counters (not the replay)."""
        check(lib.soma_dqn_save(self._p, cstr(str(path), "path")))

    def load(self, path):
        """Restores a checkpoint written by save from an agent of the same settings."""
        check(lib.soma_dqn_load(self._p, cstr(str(path), "path")))


class WorldModel:
    """A learned dynamics model (soma_wm): an MLP predicting the state change s' - s from the
    state and the one-hot action, trained with Adam on normalised transitions from its own
    replay. bounds (obs_dim floats, 0: none): |s'_i| > bounds[i] marks a predicted transition
    terminal (termination is not learned). Settings: net (hidden spec), capacity, batch, lr,
    max_predict, seed."""

    def __init__(self, obs_dim, n_actions, net=None, bounds=None, **settings):
        for k, v in (("obs_dim", obs_dim), ("n_actions", n_actions)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{k}: want an integer >= 1, got {v!r}")
        cfg = ffi.new("soma_wm_config *", lib.soma_wm_defaults(int(obs_dim), int(n_actions)))
        keep = []
        if net is not None:
            keep.append(ffi.new("char[]", cstr(net, "net")))
            cfg.net = keep[-1]
        if bounds is not None:
            b, pb = as_array(bounds, np.float32, "bounds", shape=(int(obs_dim),))
            keep.append(b)
            cfg.bounds = pb
        _settings(cfg, settings, ("capacity", "batch", "max_predict", "seed"), ("lr",), "WorldModel")
        out = ffi.new("soma_wm **")
        check(lib.soma_wm_new(out, cfg))
        self._p = ffi.gc(out[0], lib.soma_wm_free)
        self.obs_dim, self.n_actions = int(obs_dim), int(n_actions)
        self.max_predict = int(cfg.max_predict)

    def add(self, s, a, s2):
        """Stores a real transition s -> s2 under action a."""
        s, ps = _obs(s, self.obs_dim, "s")
        s2, ps2 = _obs(s2, self.obs_dim, "s2")
        check(lib.soma_wm_add(self._p, ps, _action(a, self.n_actions), ps2))

    def __len__(self):
        return lib.soma_wm_size(self._p)

    def train(self, steps):
        """Re-fits the normalisation to the replay, then `steps` Adam steps; returns the mean
        loss of the last 10% of them."""
        if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 1:
            raise ValueError(f"steps: want an integer >= 1, got {steps!r}")
        loss = ffi.new("float *")
        run_long(lib.soma_wm_train, self._p, int(steps), loss)
        return float(loss[0])

    def predict(self, s, a):
        """Next states [n, obs_dim] and terminal flags (bool [n]) from states s [n, obs_dim]
        and actions a [n] (n <= max_predict)."""
        s, ps = as_array(s, np.float32, "s", shape=(None, self.obs_dim))
        n = s.shape[0]
        a, pa = as_array(a, np.int32, "a", shape=(n,))
        if a.min() < 0 or a.max() >= self.n_actions:
            raise ValueError(f"a: actions must be in [0, {self.n_actions})")
        if n > self.max_predict:
            raise ValueError(f"s: {n} states; at most max_predict = {self.max_predict}")
        s2 = np.empty((n, self.obs_dim), np.float32)
        term = np.empty(n, np.uint8)
        check(lib.soma_wm_predict(self._p, ffi.cast("float *", ffi.from_buffer(s2)),
                                  ffi.cast("unsigned char *", ffi.from_buffer(term)), ps, pa, n))
        return s2, term.astype(bool)


class Planner:
    """Model-predictive control through a WorldModel (soma_mpc): from each observation it
    simulates action sequences through the model and returns the first action of the best;
    a sequence's return is the steps it survives under the model (at most horizon), plus,
    with tie_bounds (obs_dim floats, 0: unbounded), its last state's margin to them.
    kind "cem" (the cross-entropy method, warm-started from the previous step's plan) or
    "random" (random shooting). Settings: horizon, candidates, iters, elites, smoothing, seed.

        plan = soma.Planner(wm, "cem", horizon=20, tie_bounds=[2.4, 0, 0.2095, 0])
        plan.reset()                         # at the start of an episode
        a, value = plan.act(obs)"""

    def __init__(self, model, kind="cem", tie_bounds=None, **settings):
        if not isinstance(model, WorldModel):
            raise TypeError("model: want a soma.WorldModel")
        kinds = ("random", "cem")
        if kind not in kinds:
            raise ValueError(f"kind: {kind!r} is not one of {', '.join(kinds)}")
        cfg = ffi.new("soma_mpc_config *", lib.soma_mpc_defaults(kinds.index(kind)))
        _settings(cfg, settings, ("horizon", "candidates", "iters", "elites", "seed"), ("smoothing",), "Planner")
        keep = None
        if tie_bounds is not None:
            keep, cfg.tie_bounds = as_array(tie_bounds, np.float32, "tie_bounds", shape=(model.obs_dim,))
        out = ffi.new("soma_mpc **")
        check(lib.soma_mpc_new(out, cfg, model.obs_dim, model.n_actions, lib.soma_wm_model, model._p))
        del keep  # copied by soma_mpc_new
        self._model = model  # the planner borrows the model: keep it alive
        self._p = ffi.gc(out[0], lib.soma_mpc_free)
        self._a = ffi.new("int *")
        self._v = ffi.new("double *")

    def reset(self):
        """Forgets the warm start (call at the start of an episode)."""
        lib.soma_mpc_reset(self._p)

    def act(self, obs):
        """Plans from obs: (the first action of the best sequence, its return under the model)."""
        obs, po = _obs(obs, self._model.obs_dim)
        check(lib.soma_mpc_act(self._p, po, self._a, self._v))
        return self._a[0], self._v[0]

    def run_episode(self, env, max_steps=500):
        """One episode on env with planned actions (no learning): (steps, undiscounted return)."""
        if not isinstance(env, Env):
            raise TypeError("env: want a soma.Env")
        self.reset()
        obs, steps, ret = env.reset(), 0, 0.0
        while steps < max_steps:
            obs, r, done = env.step(self.act(obs)[0])
            steps, ret = steps + 1, ret + r
            if done:
                break
        return steps, ret


class TDModel:
    """Linear TD(lambda) value prediction (soma_td), the temporal-difference model of dopamine
    (Schultz, Dayan & Montague 1997), on a stimulus representation (soma_stimrep): "csc" (a
    complete serial compound, n_steps features a stimulus) or "micro" (Ludvig et al.'s
    microstimuli). delta, the prediction error, is the dopamine signal.

        env = soma.Env.conditioning(isi=6)
        td = soma.TDModel("csc", alpha=0.1, gamma=0.98)
        for _ in range(200):
            delta = td.run_trial(env)       # delta[t]: the error on the step into time t

    TD settings: alpha, gamma, lambda_ (trace decay), trace ("accumulate" or "replace").
    Representation settings: n_stimuli, n_steps, n_micro, decay, sigma."""

    def __init__(self, rep="csc", alpha=None, gamma=None, lambda_=None, trace="accumulate", **rep_settings):
        kinds = ("csc", "micro")
        if rep not in kinds:
            raise ValueError(f"rep: {rep!r} is not one of {', '.join(kinds)}")
        rc = ffi.new("soma_stimrep_config *", lib.soma_stimrep_defaults(kinds.index(rep)))
        _settings(rc, rep_settings, ("n_stimuli", "n_steps", "n_micro"), ("decay", "sigma"), "TDModel")
        out = ffi.new("soma_stimrep **")
        check(lib.soma_stimrep_new(out, rc))
        self._rep = ffi.gc(out[0], lib.soma_stimrep_free)
        self.n_features = lib.soma_stimrep_dim(self._rep)
        tc = ffi.new("soma_td_config *", lib.soma_td_defaults(self.n_features))
        tds = {k: v for k, v in (("alpha", alpha), ("gamma", gamma), ("lambda", lambda_)) if v is not None}
        _settings(tc, tds, (), ("alpha", "gamma", "lambda"), "TDModel")
        traces = ("accumulate", "replace")
        if trace not in traces:
            raise ValueError(f"trace: {trace!r} is not one of {', '.join(traces)}")
        tc.trace = traces.index(trace)
        out2 = ffi.new("soma_td **")
        check(lib.soma_td_new(out2, tc))
        self._p = ffi.gc(out2[0], lib.soma_td_free)
        self._cap = 0

    def run_trial(self, env, learn=True, features=False):
        """Runs one trial (an episode) of env (a conditioning Env) through the representation and
        the TD learner; returns delta (float64 [len], delta[0] = 0), and with features=True also
        the features at every time point (float32 [len, n_features]). learn=False leaves the
        weights unchanged."""
        if not isinstance(env, Env):
            raise TypeError("env: want a soma.Env")
        if self._cap == 0:  # buffers made once, reused by every trial
            self._cap = 4096
            self._delta = np.zeros(self._cap, np.float64)
            self._xs = np.zeros((self._cap, self.n_features), np.float32)
        cap, delta, xs = self._cap, self._delta, self._xs
        n = ffi.new("int *")
        check(lib.soma_td_run_trial(self._p, self._rep, env._p, 1 if learn else 0,
                                    ffi.cast("double *", ffi.from_buffer(delta)),
                                    ffi.cast("float *", ffi.from_buffer(xs)), cap, n))
        d = delta[:n[0]].copy()
        return (d, xs[:n[0]].copy()) if features else d

    def step(self, x, r, x_next=None, terminal=False, learn=True):
        """One TD update for the transition x -> x_next (features [n_features]; ignored when
        terminal) with reward r; returns delta."""
        x, px = _obs(x, self.n_features, "x")
        if x_next is None:
            if not terminal:
                raise ValueError("x_next: required unless terminal")
            x_next, pn = x, px
        else:
            x_next, pn = _obs(x_next, self.n_features, "x_next")
        if isinstance(r, bool) or not isinstance(r, (int, float, np.integer, np.floating)) or not np.isfinite(r):
            raise ValueError(f"r: want a finite number, got {r!r}")
        return lib.soma_td_step(self._p, px, float(r), pn, 1 if terminal else 0, 1 if learn else 0)

    def begin(self):
        """Clears the eligibility traces (the start of an episode)."""
        lib.soma_td_begin(self._p)

    def value(self, x):
        """V(x) = w . x."""
        x, px = _obs(x, self.n_features, "x")
        return lib.soma_td_value(self._p, px)

    @property
    def weights(self):
        """w [n_features] (a copy)."""
        return copy_out(lib.soma_td_weights(self._p), self.n_features, np.float32)


def sr_closed_form(T, gamma):
    """The successor representation M = (I - gamma T)^-1 (Dayan 1993) of a transition matrix T
    [n, n] (rows non-negative, summing to at most 1), gamma in [0, 1): float64 [n, n];
    M[s, j] is the expected discounted number of visits to j from s."""
    T, pT = as_array(T, np.float64, "T", ndim=2)
    n = T.shape[0]
    if T.shape != (n, n):
        raise ValueError(f"T: shape {T.shape}; want a square [n, n]")
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float, np.integer, np.floating)):
        raise ValueError(f"gamma: want a number in [0, 1), got {gamma!r}")
    M = np.empty((n, n), np.float64)
    work = np.empty(n * n, np.float64)
    check(lib.soma_sr_closed_form(ffi.cast("double *", ffi.from_buffer(M)), pT, n, float(gamma),
                                  ffi.cast("double *", ffi.from_buffer(work))))
    return M


def sr_policy_T(next, pi, terminal=None, restart=-1):
    """The state-to-state transition matrix [n, n] of a policy on a deterministic tabular model:
    next [n, A] (int: where action a leads from s), pi [n, A] (its probabilities, rows summing
    to 1), terminal (bool [n] or None): a terminal state's row continues at `restart` (< 0: a
    zero row)."""
    next, pn = as_array(next, np.int32, "next", ndim=2)
    n, A = next.shape
    pi, pp = as_array(pi, np.float64, "pi", shape=(n, A))
    pt = ffi.NULL
    if terminal is not None:
        terminal = np.ascontiguousarray(np.asarray(terminal, dtype=bool).astype(np.uint8))
        if terminal.shape != (n,):
            raise ValueError(f"terminal: shape {terminal.shape}; want ({n},)")
        pt = ffi.cast("unsigned char *", ffi.from_buffer(terminal))
    if not isinstance(restart, (int, np.integer)) or isinstance(restart, bool):
        raise ValueError(f"restart: want an integer, got {restart!r}")
    T = np.empty((n, n), np.float64)
    check(lib.soma_sr_policy_T(ffi.cast("double *", ffi.from_buffer(T)), pn, pp, pt, n, A, int(restart)))
    return T
