#!/usr/bin/python3
"""Small NWB 2.x files (HDF5, written with h5py as the NWB schema lays them out) and the values
tests/test_neuro_nwb.c must read back from them, computed here with NumPy independently of the C
code: spikes in time order, trials, behaviour, binned counts (continuous and aligned), Gaussian
smoothing (symmetric and causal), behaviour on the bins and PSTHs. Also spike tables (NPY, CSV)
and corrupt NWB variants, one per failure the reader must catch.

Run with Debian's /usr/bin/python3 (numpy, h5py):  /usr/bin/python3 tests/ref/gen_nwb.py
Writes tests/fixtures/neuro/*.nwb, *.npy, *.csv and expected.bin (the SOMANNFX fixture format of
tests/ref/gen_torch.py and tests/fixture.h: named float32 arrays).
"""
import os
import struct

import h5py
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "neuro")
EPS = 1e-9  # bin edge tolerance, as soma/analysis.h: bin = floor((t - t0) / bin + 1e-9)


def write_fixture(path, spec, arrays):
    with open(path, "wb") as f:
        f.write(b"SOMANNFX")
        f.write(struct.pack("<i", 1))
        f.write(spec.encode().ljust(128, b"\0"))
        f.write(struct.pack("<5i", 0, 0, 0, 0, 0))
        f.write(struct.pack("<i", len(arrays)))
        for key, a in arrays.items():
            a = np.ascontiguousarray(np.asarray(a, dtype=np.float32))
            if a.ndim == 0:
                a = a.reshape(1)
            assert 1 <= a.ndim <= 4 and len(key) < 32, (key, a.shape)
            f.write(key.encode().ljust(32, b"\0"))
            f.write(struct.pack("<5i", a.ndim, *(list(a.shape) + [0] * (4 - a.ndim))))
            f.write(a.astype("<f4").tobytes())


# --- the session ------------------------------------------------------------------------------
rng = np.random.default_rng(12)
UNIT_IDS = np.array([10, 11, 12, 20, 21], dtype=np.int64)
RATES = [8.0, 15.0, 3.0, 25.0, 0.0]  # Hz; the last unit is silent
T_END = 6.0  # s
unit_times = [np.sort(rng.uniform(0.05, T_END - 0.05, rng.poisson(r * T_END))) for r in RATES]
spike_times = np.concatenate(unit_times)
spike_index = np.cumsum([len(t) for t in unit_times]).astype(np.int64)
# electrodes: ragged, unit 2 without any
el_rows = [[3, 4], [1], [], [7, 2], [5]]
electrodes = np.array([e for row in el_rows for e in row], dtype=np.int64)
electrodes_index = np.cumsum([len(r) for r in el_rows]).astype(np.int64)

N_TRIALS = 8
trial_start = 0.2 + 0.7 * np.arange(N_TRIALS) + rng.uniform(0, 0.05, N_TRIALS)
trial_stop = trial_start + 0.6
go_cue = trial_start + rng.uniform(0.1, 0.3, N_TRIALS)
condition = np.array([2, 1, 2, 3, 1, 1, 3, 2], dtype=np.int64)

xy_t = np.sort(rng.uniform(0, T_END, 400))
xy = np.stack([np.sin(xy_t), np.cos(2 * xy_t)], 1)
speed_rate, speed_start = 50.0, 0.1
speed = rng.normal(size=250)
lick_t = np.sort(rng.uniform(0, T_END, 30))
lick = rng.uniform(size=30)


def nwb_file(path, mutate=None):
    """A schema-shaped NWB file; mutate(f) may then break one thing."""
    with h5py.File(path, "w") as f:
        f.attrs["nwb_version"] = "2.6.0"
        f.attrs["namespace"] = "core"
        f.attrs["neurodata_type"] = "NWBFile"
        f.create_dataset("identifier", data="soma-test")
        f.create_dataset("session_description", data="soma reader test session")
        f.create_dataset("session_start_time", data="2026-01-01T00:00:00+00:00")
        u = f.create_group("units")
        u.attrs["neurodata_type"] = "Units"
        u.attrs["colnames"] = np.array(["spike_times", "electrodes"], dtype=h5py.string_dtype())
        u.attrs["description"] = "sorted units"
        u.create_dataset("id", data=UNIT_IDS)
        u.create_dataset("spike_times", data=spike_times)
        u.create_dataset("spike_times_index", data=spike_index)
        u.create_dataset("electrodes", data=electrodes)
        u.create_dataset("electrodes_index", data=electrodes_index)
        tr = f.create_group("intervals/trials")
        tr.attrs["neurodata_type"] = "TimeIntervals"
        tr.attrs["colnames"] = np.array(["start_time", "stop_time", "go_cue_time", "condition", "outcome"],
                                        dtype=h5py.string_dtype())
        tr.create_dataset("id", data=np.arange(N_TRIALS))
        tr.create_dataset("start_time", data=trial_start)
        tr.create_dataset("stop_time", data=trial_stop)
        tr.create_dataset("go_cue_time", data=go_cue)
        tr.create_dataset("condition", data=condition)
        tr.create_dataset("outcome", data=np.array(["hit", "miss"] * 4, dtype=h5py.string_dtype()))
        beh = f.create_group("processing/behavior")
        beh.attrs["neurodata_type"] = "ProcessingModule"
        pos = beh.create_group("Position")
        pos.attrs["neurodata_type"] = "Position"
        s = pos.create_group("xy")
        s.attrs["neurodata_type"] = "SpatialSeries"
        s.create_dataset("data", data=xy)
        s.create_dataset("timestamps", data=xy_t)
        sp = beh.create_group("speed")
        sp.attrs["neurodata_type"] = "TimeSeries"
        sp.create_dataset("data", data=speed.astype(np.float32))
        st = sp.create_dataset("starting_time", data=speed_start)
        st.attrs["rate"] = speed_rate
        st.attrs["unit"] = "seconds"
        lk = f.create_group("acquisition/lick")
        lk.attrs["neurodata_type"] = "TimeSeries"
        lk.create_dataset("data", data=lick)
        lk.create_dataset("timestamps", data=lick_t)
        if mutate:
            mutate(f)


def bomb(f):
    """16 MB of zeros gzip'd to ~17 kB (within the 1100:1 a single dataset may claim), hard-linked
    as the data of 8 series: together more than the reader's budget (64x the file + 16 MB)."""
    z = f.create_dataset("processing/bomb/zeros", data=np.zeros(1 << 21), chunks=(1 << 17,), compression="gzip",
                         compression_opts=9)
    t0 = f.create_dataset("processing/bomb/t0", data=0.0)
    t0.attrs["rate"] = 1000.0
    for i in range(8):
        g = f.create_group(f"processing/bomb/s{i}")
        g["data"] = z
        g["starting_time"] = t0


def odd_but_fine(f):
    """Legal oddities the reader must take in its stride: one electrode per unit (no index), a
    string-valued series, a series without a time base, a dangling soft link and an external
    link under /processing (never followed)."""
    del f["units/electrodes_index"]
    replace(f, "units/electrodes", np.array([3, 1, 0, 7, 5], dtype=np.int32))
    f.create_dataset("processing/behavior/notes/data", data=np.array(["a", "b"], dtype=h5py.string_dtype()))
    f.create_dataset("processing/behavior/notes/timestamps", data=[0.1, 0.2])
    f.create_dataset("processing/behavior/untimed/data", data=np.arange(5.0))
    f["processing/behavior/dangling"] = h5py.SoftLink("/nowhere/at/all")
    f["processing/ext"] = h5py.ExternalLink("linked.h5", "/series")


def replace(f, path, data, **kw):
    del f[path]
    f.create_dataset(path, data=data, **kw)


CORRUPT = {  # name -> (mutation, what the error must name)
    "no_units": (lambda f: f.__delitem__("units"), "/units"),
    "no_spike_times": (lambda f: f.__delitem__("units/spike_times"), "/units/spike_times"),
    "no_index": (lambda f: f.__delitem__("units/spike_times_index"), "spike_times_index"),
    "index_past": (lambda f: replace(f, "units/spike_times_index", spike_index + np.array([0, 0, 0, 0, 5])),
                   "spike_times_index"),
    "index_decreasing": (lambda f: replace(f, "units/spike_times_index", spike_index[[1, 0, 2, 3, 4]]),
                         "spike_times_index"),
    "index_float": (lambda f: replace(f, "units/spike_times_index", spike_index.astype(np.float64)),
                    "spike_times_index"),
    "times_nonmono": (lambda f: replace(f, "units/spike_times", np.concatenate([unit_times[0][::-1]] + unit_times[1:])),
                      "/units/spike_times"),
    "times_strings": (lambda f: replace(f, "units/spike_times",
                                        np.array([str(x) for x in spike_times], dtype=h5py.string_dtype())),
                      "/units/spike_times"),
    "times_nan": (lambda f: replace(f, "units/spike_times", np.where(np.arange(len(spike_times)) == 3, np.nan,
                                                                      spike_times)), "/units/spike_times"),
    "id_len": (lambda f: replace(f, "units/id", UNIT_IDS[:3]), "/units/id"),
    "huge": (lambda f: (f.__delitem__("units/spike_times"),
                        f.create_dataset("units/spike_times", shape=(1 << 30,), dtype="f8")), "/units/spike_times"),
    "huge_chunked": (lambda f: (f.__delitem__("units/spike_times"),
                                f.create_dataset("units/spike_times", shape=(1 << 30,), dtype="f8", chunks=(4096,),
                                                 compression="gzip")), "/units/spike_times"),
    "trial_col_len": (lambda f: replace(f, "intervals/trials/go_cue_time", go_cue[:5]), "go_cue_time"),
    "trial_no_stop": (lambda f: f.__delitem__("intervals/trials/stop_time"), "stop_time"),
    "trial_strings": (lambda f: replace(f, "intervals/trials/start_time",
                                        np.array(["a"] * N_TRIALS, dtype=h5py.string_dtype())), "start_time"),
    "ts_nonmono": (lambda f: replace(f, "processing/behavior/Position/xy/timestamps", xy_t[::-1].copy()),
                   "processing/behavior/Position/xy/timestamps"),
    "ts_len": (lambda f: replace(f, "acquisition/lick/timestamps", lick_t[:10]), "acquisition/lick/timestamps"),
    "bomb": (lambda f: bomb(f), "times the file's size"),
    "elink_spikes": (lambda f: (f.__delitem__("units/spike_times"),
                                f.__setitem__("units/spike_times", h5py.ExternalLink("linked.h5", "/spike_times"))),
                     "/units/spike_times"),
    "rate_missing": (lambda f: f["processing/behavior/speed/starting_time"].attrs.__delitem__("rate"),
                     "processing/behavior/speed/starting_time"),
}


# --- expected values, NumPy ---------------------------------------------------------------------
def bin_spikes(t_ms, ids, t0s, n_bins, bin_ms, n_units):
    out = np.zeros((len(t0s), n_bins, n_units))
    for k, t0 in enumerate(t0s):
        b = np.floor((t_ms - t0) / bin_ms + EPS)
        keep = (b >= 0) & (b < n_bins)
        np.add.at(out[k], (b[keep].astype(int), ids[keep]), 1)
    return out


def smooth(x, sigma_ms, bin_ms, causal):
    s = sigma_ms / bin_ms
    h = int(np.ceil(4 * s))
    lags = np.arange(-h, h + 1)
    w = np.exp(-0.5 * (lags / s) ** 2)
    if causal:
        w[lags < 0] = 0
    w /= w.sum()
    y = np.zeros_like(x)
    B = x.shape[1]
    for b in range(B):
        for j, wj in zip(lags, w):
            if 0 <= b - j < B:
                y[:, b] += wj * x[:, b - j]
    return y


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        if name.endswith(".nwb") or name.endswith(".h5"):
            os.remove(os.path.join(OUT, name))
    nwb_file(os.path.join(OUT, "session.nwb"))
    nwb_file(os.path.join(OUT, "session_odd.nwb"), odd_but_fine)
    with h5py.File(os.path.join(OUT, "linked.h5"), "w") as f:  # what the external links point to
        f.create_dataset("spike_times", data=spike_times)
        f.create_dataset("series/data", data=np.arange(4.0))
        f.create_dataset("series/timestamps", data=np.arange(4.0))
    for name, (mut, _) in CORRUPT.items():
        nwb_file(os.path.join(OUT, f"bad_{name}.nwb"), mut)
    with open(os.path.join(OUT, "bad_not_hdf5.nwb"), "w") as f:
        f.write("this is not an HDF5 file\n")
    whole = open(os.path.join(OUT, "session.nwb"), "rb").read()
    with open(os.path.join(OUT, "bad_truncated.nwb"), "wb") as f:
        f.write(whole[: len(whole) // 3])
    with open(os.path.join(OUT, "corrupt_names.txt"), "w") as f:
        for name, (_, what) in CORRUPT.items():
            f.write(f"bad_{name}.nwb\t{what}\n")

    # spikes in time order (ties: lower unit first), ms
    ids = np.concatenate([np.full(len(t), u) for u, t in enumerate(unit_times)])
    t_ms = spike_times * 1000.0
    order = np.lexsort((ids, t_ms))
    t_ms, ids = t_ms[order], ids[order]
    n_units = len(UNIT_IDS)
    t_start = min(0.0, t_ms[0])
    t_stop = max(t_ms[-1], (trial_stop * 1000.0).max())

    E = {}
    E["unit_id"] = UNIT_IDS
    E["electrode"] = [row[0] if row else -1 for row in el_rows]
    E["spike_t"] = t_ms
    E["spike_id"] = ids
    E["window"] = [t_start, t_stop]
    E["trial_start"] = trial_start * 1000.0
    E["trial_stop"] = trial_stop * 1000.0
    E["go_cue_time"] = go_cue
    E["condition"] = condition
    E["xy_t"] = xy_t * 1000.0
    E["xy"] = xy
    E["speed_t"] = (speed_start + np.arange(len(speed)) / speed_rate) * 1000.0
    E["speed"] = speed
    E["lick_t"] = lick_t * 1000.0
    E["lick"] = lick

    # continuous, 20 ms bins
    nb = int(np.floor((t_stop - t_start) / 20.0 + EPS)) + 1
    E["cont20"] = bin_spikes(t_ms, ids, [t_start], nb, 20.0, n_units)
    # aligned on go_cue_time, window -200..800, 50 ms bins
    t0_go = go_cue * 1000.0 + (-200.0)
    E["go50"] = bin_spikes(t_ms, ids, t0_go, 20, 50.0, n_units)
    E["go50_t0"] = t0_go
    # aligned on start_time, -100..500, 20 ms bins, smoothed sigma 40 (and causal)
    t0_st = trial_start * 1000.0 + (-100.0)
    raw = bin_spikes(t_ms, ids, t0_st, 30, 20.0, n_units)
    E["st20_raw"] = raw
    E["st20_smooth"] = smooth(raw, 40.0, 20.0, False)
    E["st20_causal"] = smooth(raw, 40.0, 20.0, True)
    # behaviour on the go-cue bins (centres)
    centres = t0_go[:, None] + (np.arange(20) + 0.5) * 50.0
    E["go50_xy"] = np.stack([np.stack([np.interp(c, xy_t * 1000.0, xy[:, d]) for d in range(2)], 1)
                             for c in centres])
    E["go50_speed"] = np.stack([np.interp(c, E["speed_t"], speed)[:, None] for c in centres])
    # PSTHs of the go-cue counts by condition
    levels = np.unique(condition)
    E["psth_levels"] = levels
    E["psth"] = np.stack([E["go50"][condition == c].mean(0) for c in levels])
    write_fixture(os.path.join(OUT, "expected.bin"), "nwb reader + binning reference", E)

    # spike tables: the same spikes, rows shuffled, unit ids as in the file
    perm = rng.permutation(len(spike_times))
    raw_ids = np.concatenate([np.full(len(t), UNIT_IDS[u]) for u, t in enumerate(unit_times)])
    np.save(os.path.join(OUT, "table_times.npy"), spike_times[perm])
    np.save(os.path.join(OUT, "table_ids.npy"), raw_ids[perm].astype(np.int32))
    np.save(os.path.join(OUT, "table_rows.npy"), np.stack([spike_times[perm], raw_ids[perm]], 1))
    with open(os.path.join(OUT, "table.csv"), "w") as f:
        f.write("unit,time\n")
        for i in perm:
            f.write(f"{raw_ids[i]},{spike_times[i]!r}\n")
    np.save(os.path.join(OUT, "table_ids_short.npy"), raw_ids[perm][:-1].astype(np.int32))
    np.save(os.path.join(OUT, "table_ids_frac.npy"), raw_ids[perm] + 0.5)
    for name in sorted(os.listdir(OUT)):
        print(f"{name}: {os.path.getsize(os.path.join(OUT, name))} bytes")


if __name__ == "__main__":
    main()
