"""Validation error of ShotVAEClassifier settings ("levers"), over several label draws.

Each setting is fitted on every label draw of every protocol named, and the
held-out validation error is recorded after every epoch (see
``_protocols.py``: validation splits of training data only, never a test
split). One JSON line per fit is appended to ``--out`` (default
``benchmarks/results/levers.jsonl``), so a long run can be read, and
continued, while it goes; ``--summary`` turns the lines into the table of
``benchmarks/results/levers.md`` (lever, setting, error mean ± sd over the
draws, best epoch, fit time, sample fidelity).

Usage::

    python benchmarks/levers.py --protocols digits-50 --draws 0 1 2 \\
        --setting lead '{"beta": 1, "elbo_weight": 0.01, "entropy_weight": 0.3}'
    python benchmarks/levers.py --protocols digits-50 --setting LabelSpreading-15 \
        '{"n_neighbors": 15}'
    python benchmarks/levers.py --summary
    python benchmarks/levers.py --figure weight_decay beta6-both both-wd0.01 both-wd0.1

``--figure PARAMETER REFERENCE SETTING...`` draws, for each protocol, the
change of the validation error against the reference setting (paired over
the draws both have, mean ± standard error) as a function of the
parameter's value in each setting, to ``levers-PARAMETER.png``.
"""

import argparse
import json
import platform
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _protocols import PROTOCOLS, mean_sd, run, run_peer, threads

RESULTS = Path(__file__).parent / "results"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--protocols", nargs="+", choices=list(PROTOCOLS), default=[])
    parser.add_argument("--draws", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--setting", nargs=2, action="append", default=[],
                        metavar=("NAME", "JSON"), help="a named setting (JSON parameters)")
    parser.add_argument("--epochs", type=json.loads, default={},
                        help='max_epochs per protocol, e.g. \'{"fmnist-100": 15}\'')
    parser.add_argument("--fidelity", action="store_true", help="measure sample fidelity")
    parser.add_argument("--fidelity-per-class", action="store_true",
                        help="measure sample fidelity, also per class")
    parser.add_argument("--out", type=Path, default=RESULTS / "levers.jsonl")
    parser.add_argument("--summary", action="store_true")
    parser.add_argument("--figure", nargs="+", metavar=("PARAMETER", "SETTING"),
                        help="a parameter, the reference setting and the settings to draw")
    args = parser.parse_args(argv)
    if args.summary:
        write_summary(args.out)
        return
    if args.figure:
        if len(args.figure) < 3:
            parser.error("--figure needs a parameter, a reference setting and at least one "
                         "setting")
        parameter, reference, *settings = args.figure
        lever_figure(args.out, parameter, reference, settings)
        return
    print(f"{threads()} PyTorch threads", flush=True)
    for name, text in args.setting:
        params = json.loads(text)
        for protocol in args.protocols:
            for draw in args.draws:
                fit_params = dict(params)
                is_peer = name.split("-")[0] in ("LabelSpreading", "SelfTraining")
                if protocol in args.epochs and "max_epochs" not in fit_params and not is_peer:
                    fit_params["max_epochs"] = args.epochs[protocol]
                if is_peer:
                    result = run_peer(name.split("-")[0], protocol, draw, fit_params)
                else:
                    fidelity = "per-class" if args.fidelity_per_class else args.fidelity
                    result = run(protocol, draw, fit_params, fidelity=fidelity)
                result.update(setting=name, params=fit_params)
                with args.out.open("a") as f:
                    f.write(json.dumps(result) + "\n")
                best = min(range(len(result["curve"])), key=result["curve"].__getitem__)
                print(f"{name:28s} {protocol:10s} draw {draw}: {result['val_error']:5.1f} % "
                      f"(best {result['curve'][best]:.1f} at epoch {best + 1}) "
                      f"{result['seconds']:6.1f} s", flush=True)


def lever_effects(path, parameter, reference, settings):
    """``{protocol: [(value, mean change, standard error, draws), ...]}`` of a lever.

    For each protocol with rows of ``reference``, each setting's change of the
    validation error against the reference, paired over the draws both have;
    ``value`` is the setting's ``parameter`` as its fits ran it (the
    reference's own value comes first, with change 0). Protocols without a
    setting besides the reference are left out.
    """
    errors, values = {}, {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        name = row["setting"]
        if name in (reference, *settings):
            errors.setdefault((row["protocol"], name), {})[row["draw"]] = row["val_error"]
            values[(row["protocol"], name)] = row.get("effective", {}).get(parameter)
    effects = {}
    for protocol in PROTOCOLS:
        base = errors.get((protocol, reference))
        if not base:
            continue
        points = [(values[(protocol, reference)], 0.0, 0.0, len(base))]
        for name in settings:
            other = errors.get((protocol, name), {})
            draws = sorted(set(base) & set(other))
            if not draws:
                continue
            change = [other[d] - base[d] for d in draws]
            se = statistics.stdev(change) / len(change) ** 0.5 if len(change) > 1 else 0.0
            points.append((values[(protocol, name)], statistics.mean(change), se, len(draws)))
        if len(points) > 1:
            effects[protocol] = sorted(points, key=lambda p: p[0])
    return effects


def lever_figure(path, parameter, reference, settings):
    """Draw :func:`lever_effects` to ``levers-PARAMETER.png`` next to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    effects = lever_effects(path, parameter, reference, settings)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for i, (protocol, points) in enumerate(effects.items()):
        x, change, se, _ = zip(*points)
        images = PROTOCOLS[protocol][0] is not None
        ax.errorbar(x, change, yerr=se, marker="o" if images else "s", capsize=3,
                    linestyle="-" if images else "--", color=f"C{i}",
                    label=f"{protocol} ({'images' if images else 'tabular'}, "
                          f"{max(p[3] for p in points)} draws)")
    ax.axhline(0.0, color="0.5", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=2.0)  # linear within ±2 points, logarithmic beyond
    top = max(c + e for points in effects.values() for _, c, e, _ in points)
    bottom = min(c - e for points in effects.values() for _, c, e, _ in points)
    ticks = [t for t in (-20, -10, -5, -2, -1, 0, 1, 2, 5, 10, 20, 50)
             if bottom - 1 <= t <= 1.5 * top + 1]
    ax.set_yticks(ticks, [f"{t:+g}" if t else "0" for t in ticks])
    ax.set_ylim(min(bottom * 1.3, -1.0), max(top * 1.3, 1.0))
    ax.set_xlabel(parameter)
    ax.set_ylabel("validation error change (points)")
    ax.set_title(f"{parameter}: change against `{reference}`, mean ± s.e. over the draws")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = path.parent / f"levers-{parameter}.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


#: What the settings of a results file other than ``levers.jsonl`` mean, by its stem.
FILE_LEGENDS = {
    "levers-conv": [
        "A `backbone` named in `_protocols.BENCHMARK_BACKBONES` is built there:",
        "`conv16-mlp` is the `conv` backbone's encoder with 16 and 32 channels (32 and 64",
        "in `conv`) and the `mlp` backbone's decoder, since 2026-12-07 the built-in",
        "`conv-mlp` backbone, which computes the same convolutions in the channels-last",
        "memory layout (the rows before built them in the usual one); `mlp-dropout` is",
        "the `mlp` backbone with dropout of 0.2 on the encoder's input and hidden layers.",
        "Settings ending in `-fidelity-per-class` also measure each class's share",
        "of `sample()` outputs recognised as that class. `translate-encoder`",
        "translates the images for the encoder only: the decoder reconstructs",
        "them as given. `bf16` settings run the forward passes under bfloat16",
        "autocast (`mixed_precision: \"bf16\"`) on this machine's CPU, which has",
        "bfloat16 instructions (AVX-512 BF16, AMX); every row ran there but",
        "fmnist-100's `conv16mlp-translate-encoder-fidelity-per-class`, measured on",
        "2026-12-07 on two cores of a CPU without them (an AVX2 AMD EPYC), whose fit",
        "times are longer. `conv-defaults-1.25x` is the",
        "defaults since 2026-12-06 for 28x28 images (`images`: `\"auto\"` resolves to",
        "`conv`, `translate-encoder`, `bf16`) trained 51 epochs instead of the",
        "default 41 on 50 000 images, about 1.25 times the steps; it compares with",
        "`conv-translate-encoder-bf16-fidelity-per-class`, the same setting at",
        "the default length; it was stopped after its first draw (13.6 % against",
        "13.5 %, 711 s against 451 s). `conv16mlp-translate-encoder-3000steps` is",
        "`conv16mlp-translate-encoder-fidelity-per-class` trained 31 epochs instead of",
        "41 on 50 000 images (about 3 000 steps, three quarters of the default length),",
        "measured on 2026-12-07 on the AVX2 CPU without the fidelity; its fmnist-1000",
        "draws were fitted again with it (`-3000steps-fidelity-per-class`).",
        "`conv16mlp-translate-encoder-3000steps-beta10-fidelity-per-class` and `-beta8-` are",
        "the same with `beta=10` and `beta=8` (the default 6), measured on 2026-12-07 on the",
        "AVX2 CPU; `-beta8-` was stopped after its first fmnist-1000 draw, whose prior draws",
        "were recognised as their class 89.5 % of the time (`-beta10-` 93.5 %).",
    ],
    "levers-small-images": [
        "Measured on 2026-12-07 on two cores of an Intel Xeon with AVX-512 BF16 and without",
        "AMX, one fit at a time: how `backbone=\"auto\"` should read Fashion-MNIST images",
        "when there are few of them (2 000, 5 000 or 10 000 training images, 10 labels",
        "per class). `mlp` is the defaults on the images as rows of pixels, the MLP;",
        "`conv-mlp` the defaults on the 28x28 images with `backbone=\"conv-mlp\"`, what",
        "`\"auto\"` chose on such a CPU for any number of images until then (with it",
        "`augmentation`, `beta`, `max_epochs`, `predict_shift` and `vote_weight`",
        "`\"auto\"` resolve to the translation for the encoder, 10, its step count, copies",
        "shifted by one pixel and the share 0.4); `conv-mlp-no-translation` that without",
        "the translation (`augmentation=None`, so no copies and the share 0.5); `conv` the",
        "defaults with the `conv` backbone, what `\"auto\"` chooses on a GPU or a CPU with AMX,",
        "here in float32 (`mixed_precision=None`; there under bfloat16), so its fit times",
        "are not those of such a device. Since these rows `\"auto\"` reads fewer than",
        "10 000 images with the MLP.",
    ],
    "levers-label-smoothing": [
        "Measured on 2026-12-07 on a CPU without bfloat16 instructions (the Fashion-MNIST",
        "rows read the images as rows, the MLP). One change each to the",
        "defaults: `gumbel0.3` and `gumbel1` the Gumbel-softmax temperature of the",
        "unlabeled `y` (`temperature`, default 0.67); `labelweight2` the label term",
        "weighted twice as much as the rest (`elbo_weight`, `ot_weight`, `entropy_weight`",
        "and `propagation_weight` halved); `eps0.1` and `eps0.3` the label smoothing of",
        "eq. 9 (`epsilon`, default the paper's 1e-3); `latent20` a 20-dimensional `z`.",
        "`small-images` is the user guide's advice for small image sets (`lr=3e-3`, the",
        "vote of 7 neighbours weighted 0.8), `small-images+eps0.1` and `+eps0.3` that with",
        "`epsilon=0.1` or 0.3, `small-images+eps0.1-3x` the former three times as long.",
        "`gumbel0.3` on `fmnist2k-100` was stopped after its first draw, when neither",
        "temperature had changed the digits' error. `fmnist-100` and `fmnist-1000` have no",
        "`defaults` rows here: `eps0.1` there compares with the `defaults` rows of",
        "`levers-screen.md` on the same draws (the same MLP in float32, measured on a",
        "CPU with bfloat16 instructions).",
    ],
    "levers-conv-mlp": [
        "Measured on 2026-12-07 and 2026-12-08 on two cores of an Intel Xeon with AVX-512",
        "BF16 and without AMX, one fit at a time: the `conv-mlp` defaults for 28x28 images on",
        "such a CPU (`backbone=\"conv-mlp\"`; `augmentation`, `beta`, `max_epochs`,",
        "`predict_shift` and `vote_weight` `\"auto\"`), with one change each. `conv-mlp` is",
        "those defaults, fitted on 2026-12-08 on 50 000 images; its `fmnist10k-100` rows are",
        "those of `levers-small-images.md` (the same machine and code; `conv-mlp-recheck`",
        "fitted draw 0 again and got the same error to the hundredth). `shift4` and `shift1`",
        "translate by up to 4 and 1 pixels (`translate_shift`, default 2; 4 is the authors'",
        "padding), `prop0.6` weighs the label propagation 0.6 (default 0.3), `otw6` the OT",
        "term 6 (`ot_weight`, default 3), `ent0.6` the entropy term 0.6 (default 0.3). Two",
        "rows ran a patch of the benchmark, not a parameter, so their parameters read as the",
        "defaults': `cutout10` set a 10x10 square at a random place of each translated image",
        "that the encoder reads to 0 (labeled and unlabeled, a stronger augmentation beyond",
        "the authors'), and `unlabeled10k` trained on the draw's 100 labeled images and a",
        "random 9 900 of its unlabeled ones (10 000 in all, as `fmnist10k-100`, whose graph",
        "and length it then gets from `\"auto\"`). `shift4` and `cutout10` were stopped after",
        "three draws.",
    ],
}


def write_summary(path):
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    groups = {}
    for row in rows:  # a later fit of the same setting and draw replaces an earlier one
        key = (row["protocol"], row["setting"], json.dumps(row["params"], sort_keys=True))
        groups.setdefault(key, {})[row["draw"]] = row
    groups = {key: list(by_draw.values()) for key, by_draw in groups.items()}
    lines = [
        "# Levers: validation error over label draws"
        + ("" if path.stem == "levers" else f", {path.stem.removeprefix('levers-')}"),
        "",
        (f"Written by `python benchmarks/levers.py --summary` from `{path.name}`. "
         "Validation error"),
        "(%, mean ± sd over the label draws) of each setting, on validation splits of the",
        "training data (never a test split); `best` is the lowest error after any epoch and",
        "`epoch` where it was reached (mean over draws); fidelity: the share of `sample()`",
        "outputs that a logistic regression trained on the held-out data assigns to the class",
        (f"asked for (prior z / restyled inputs). Machine: {platform.machine()}, "
         f"{platform.system()}, 2 cores, which up to four fits shared for some rows (one fit at"),
        "a time for others), so fit times compare only roughly.",
        "",
    ]
    if path.stem == "levers":  # the main study: what its setting names mean
        lines += [
            "Settings: `previous defaults` are the estimator's defaults before these measurements;",
            "`lead` is `beta=1, elbo_weight=0.01, gamma=1, entropy_weight=0.3`, and `lead+X` / `lead-X`",
            "change one thing of it (on the small protocols `lead` names `ot_weight=1`, the default",
            "before these measurements); `combined` is the defaults before label propagation",
            "(`lead` with `beta=4` and `ot_weight=3`; the current defaults add label propagation",
            "and `beta=6`, the rows `propagation0.3+beta6`; before `beta=6` the rows",
            "`propagation0.3`) as they were measured, with",
            "`max_epochs=\"auto\"` at about 2 000 steps, and `combined-X` / `combined+X` change one",
            "thing of them.",
            "Fashion-MNIST fits ran 15 epochs unless the parameters say otherwise",
            "(`combined`: 21 epochs on 50 000 images, about 2 000 steps); the others",
            "100 epochs. `LabelSpreading` uses 7 neighbours, `LabelSpreading-15` 15. A setting with",
            "fewer than three draws was stopped early, after doing worse than its reference.",
            "`combined-labelweight3` weights the label term 3 times as much as `combined` does: with",
            "Adam, whose steps do not depend on the loss's scale, that is `elbo_weight`, `ot_weight` and",
            "`entropy_weight` divided by 3. `sharpen0.5` is the defaults with the OT targets'",
            "class distributions sharpened at temperature 0.5 (`ot_target_temperature`);",
            "`combined-3x` the defaults trained three times the default length (300 epochs on",
            "the small sets), the check that longer training does not make the model worse;",
            "`combined-2x` twice that length on Fashion-MNIST (41 epochs, about 4 000 steps): the",
            "current default length (`max_epochs=\"auto\"`; on the small sets it is 100 epochs either way).",
            "`combined-ent0` is the defaults without the entropy term; `combined-2x+X` change one",
            "thing of `combined-2x` (`beta6`, `beta8`: `beta=6`, `beta=8`;",
            "`bsu128`: unlabeled batches of 128, so `max_epochs=\"auto\"` gives 11 epochs of about",
            "4 000 steps; `bsu128-12000steps`: the same for 31 epochs, about 12 000 steps, about",
            "the default's time; `bsl16`: 16 labeled samples per step instead of 64, also",
            "`combined+bsl16` on the small protocols). Rows marked `(draws 3-4)` are two further",
            "Fashion-MNIST label draws of the same setting.",
            "On the digits, `combined+X` rows try what a small data set might need: smaller",
            "unlabeled batches (`bsu128`: 128, so 4 times the steps), about 2 000 steps",
            "(`steps2000`: 667 epochs), narrower hidden layers, a larger `z`, no weight decay, a",
            "larger learning rate, and a translation by one pixel of the 8x8 images",
            "(`translate1`), the optimal match, `mixup_alpha=0.5`, the reversed OT divergence",
            "and `epsilon=0.1`; the rows marked `(draws 3-5)` repeat three settings on three",
            "more label draws.",
            "The `cuda-` rows were fitted on one NVIDIA H200 GPU (`device=\"cuda\"`), nine fits",
            "sharing it, at the default length (41 epochs, about 4 000 steps) unless the parameters",
            "say otherwise: `cuda-defaults` is the defaults, `cuda-conv` the `conv` backbone",
            "(`images` passes the 28x28 shape), `cuda-conv-translate` that with",
            "`augmentation=\"translate\"` (2 pixels) and `cuda-conv-3x` three times the length; their",
            "fit times are the GPU's and do not compare with the CPU rows.",
            "`propagation` is the defaults with `propagation_weight=1` (pseudo-labels from label",
            "propagation over the network's features), `propagation0.3` with 0.3,",
            "`propagation+bsu128` with unlabeled batches of 128 as well; the first",
            "Fashion-MNIST draw of `propagation` shared the cores with other work (2 025 s; the",
            "other two took 415-421 s alone). `LabelSpreading-7 (draws 3-5)` is `LabelSpreading`",
            "(7 neighbours) on further draws; on the tabular sets the `(draws 3-5)` rows of the",
            "defaults, the labels-only network and the peers (`SelfTraining-defaults`: the same",
            "`SelfTraining` as above) bring them to six draws. `lr-cosine` is the defaults with",
            "`lr_schedule=\"cosine\"` instead of the step schedule; `combined+beta6` the defaults",
            "with `beta=6` on the small protocols (Fashion-MNIST: `combined-2x+beta6`);",
            "`propagation0.3 (draws 3-4)` compares with `combined-2x (draws 3-4)`;",
            "`propagation0.3+beta6` sets both (Fashion-MNIST: with the class fidelity of `sample`);",
            "`propagation0.3-fidelity` repeats `propagation0.3` on the first draw with the",
            "class fidelity of `sample` measured. `propagation0.3-k3`, `-k5` and `-k20` link",
            "each sample to 3, 5 or 20 neighbours in the graph of the label propagation",
            "(`propagation_neighbors`; the default 10). `beta6-w1`, `beta6-k5` and",
            "`beta6-w1-k5` set `propagation_weight=1`, 5 neighbours, or both, on top of the",
            "defaults (`propagation0.3+beta6`, whose small-protocol rows span the same draws);",
            "on breast cancer and wine both were run on twenty draws, and with three times the",
            "default length (300 epochs) on eight (`beta6-w1-3x`, `propagation0.3+beta6-3x`;",
            "on wine the latter then on all twenty). The other `beta6-X` rows change one thing",
            "of the defaults, `beta6-X-3x` the same at three times the default length, to find",
            "what stops wine's error from climbing with longer training: `ot0`, `otw1` (the OT",
            "weight 0 or 1), `prop0`, `ent0`, `ent0.1`, `ent1` (the propagation or entropy",
            "weight), `mixup0.5`, `optimal`, `ema0.99`, `sharpen0.5`, `reverse` (the OT's",
            "`mixup_alpha`, optimal match, moving-average teacher, sharpened targets, reversed",
            "divergence), `gamma5`, `cosine`, `lr3e-4`, `eps0.1`, `hidden100` (one",
            "hidden layer of 100), `wd0.003` to `wd0.1` (`weight_decay`), `earlystop`",
            "(`early_stopping=True`, holding out 0.1 of the labels; on the digits",
            "`earlystop-vf0.2` holds out 0.2). Settings on six draws (9, 11, 18, 19, 0, 5) were",
            "screened on the draws where the defaults' long fits ended highest on wine;",
            "`labeled-only-3x` is the network on the labels alone at that length, and the",
            "digits' `wd0.05-3x` was stopped after `wd0.05` had lost there.",
            "`fmnist-1000` is the Fashion-MNIST split of `fmnist-100` with 100 labels per class;",
            "its `combined-2x` ran the defaults of the time (`propagation_weight=0`) at their",
            "default length (41 epochs), and `propagation0.3` the same with 0.3, which then became",
            "the default; `labeled-only` there is the network on the labels alone at that length.",
            "`beta6-input` and `beta6-both` build the graph of the label propagation from the",
            "training samples themselves or from the samples and the network's features side by",
            "side (`propagation_features`; these rows ran when the default was `network`, the",
            "features only, everywhere; the default `auto` now links both on the small and",
            "mid-sized sets and the features on 50 000 images, so there `beta6-both` is the current",
            "defaults), with",
            "`-3x` three times the default length, `beta6-input-w1` the samples' graph with",
            "`propagation_weight=1`, `beta6-input-w3` and `-w10` with 3 and 10, and",
            "`beta6-input-w1-ot0`, `-w1-ent0` and `-w1-conv` that without the OT term, without",
            "the entropy term, or with the `conv` backbone on the 8x8 images, `beta6-input-w1-3x`",
            "and `beta6-input-ent1(-3x)` the samples' graph with `propagation_weight=1` at three",
            "times the default length, or with `entropy_weight=1`; `beta6-ent1` on",
            "Fashion-MNIST is the defaults with `entropy_weight=1`; `labeled-only-20` is the",
            "network on the labels alone on the tabular sets' twenty draws;",
            "`LabelSpreading-7 (draws 6-7)` and `LabelSpreading-15",
            "(draws 6-7)` bring the digits' peers to eight draws; `beta6-fidelity` and",
            "`beta6-input-fidelity` repeat the defaults and `beta6-input` on the digits' first",
            "three draws with the class fidelity of `sample` measured. `fmnist5k-100` and",
            "`fmnist10k-100` train on a fixed stratified 5 000 or 10 000 of `fmnist-100`'s 50 000",
            "images (10 labels per class, the same 10 000 held out), mid-sized image sets;",
            "`beta6-defaults` there is the defaults of the time (the features' graph).",
            "`fmnist2k-100` trains on a fixed 2 000 of them: `beta6-network`, `beta6-input` and",
            "`beta6-both` name the graph (`beta6-input` ran as `propagation_features=\"auto\"` when",
            "that chose the samples' graph there, the same fit).",
            "The `both-X` rows change one thing of the current defaults on the small sets (whose",
            "graph is `both`, so they compare with `beta6-both`): `wd0.01` to `wd0.3` set",
            "`weight_decay`, `-3x` at three times the default length, `bsu2048` puts the digits'",
            "whole training set in one unlabeled batch (one step an epoch, as on the tabular",
            "sets), `gaussian` fits the digits with `likelihood=\"gaussian\"` (the tabular sets'",
            "likelihood). `cv-wd` chooses `weight_decay` between 5e-4 and 0.1 by `GridSearchCV`",
            "on each draw's training labels alone (three stratified folds, scored on the labels",
            "each fold holds out; ties go to 5e-4) and refits the choice on all of them; the",
            "validation split plays no part in the choice. `digits300-50` trains on a stratified",
            "300 of each draw's 1 149 training digits (a small image set the size of the tabular",
            "sets), with the same 288 held out; there `beta6-both` is the defaults.",
            "`SelfTraining-defaults (draws 6-19)` and `LabelSpreading-7 (draws 6-19)` bring the",
            "tabular sets' peers to twenty draws, `beta6-both-3x (draws 8-19)` breast cancer's",
            "long fits of the defaults. `levers-weight_decay.png` draws the `both-wd*` rows",
            "against `beta6-both` (`--figure`). `iris-30`, scikit-learn's iris data split as wine,",
            "was added after the defaults were chosen, as a check: there `beta6-both` is the",
            "defaults, `beta6-ot0`, `-elbo0`, `-ent0` and `-prop0` set `ot_weight`, `elbo_weight`,",
            "`entropy_weight` or `propagation_weight` to 0 (`smooth-elbo`: the objective without",
            "the OT term, the same fit as `beta6-ot0`); `both-ot0` is `ot_weight=0` on the other",
            "small sets, `both-ot0-wd0.1` with `weight_decay=0.1` as well.",
            "`drop-intrusions` (and its `-3x`, `-wd0.1` and `-fidelity`) sets",
            "`ot_drop_intrusions=True`: the OT term leaves",
            "out the mixes whose nearest unlabeled sample is predicted as neither parent's class.",
            "It became the default after these rows; every row measured before it, the defaults'",
            "rows included, ran the paper's OT term (`ot_drop_intrusions=False`).",
            "`synth-40`, a fixed draw of `make_classification` (4 classes of 2 clusters each in",
            "6 features, 10 labels per class, 210 validation samples) split as wine, was added",
            "after that default, as a further check: there `drop-intrusions` is the defaults,",
            "`beta6-both` the same with the paper's OT term (the defaults before), `both-ot0`",
            "`ot_weight=0`, `-3x` three times the default length, and `beta6-earlystop` and",
            "`drop-intrusions-wd0.1` the defaults with the small-data options `early_stopping=True`",
            "or `weight_decay=0.1`. `intrusions-k3` (and `-3x`) sets `ot_intrusion_neighbors=3`",
            "on top of the defaults: a mix is left out when any of its three nearest unlabeled",
            "samples is predicted as neither parent's class (`drop-intrusions` looks at the",
            "nearest one). On `fmnist5k-100` and `fmnist10k-100` `drop-intrusions` is the",
            "defaults and `beta6-both` the same with the paper's OT term. After these rows",
            "`ot_intrusion_neighbors=\"auto\"` became the default: 3 when an epoch has at most",
            "4 steps (every small set and `fmnist2k-100`), 1 otherwise (`fmnist5k-100` and",
            "larger). So on the small sets and `fmnist2k-100` `intrusions-k3` is the defaults and",
            "`drop-intrusions` the earlier ones; on the larger Fashion-MNIST protocols",
            "`drop-intrusions` stays the defaults. `auto-fidelity` is the defaults under",
            "`\"auto\"`, with the class fidelity of `sample`. On top of those defaults",
            "`auto-input` sets `propagation_features=\"input\"` (the samples' graph alone),",
            "`auto-pw1` `propagation_weight=1` (the default graph) and `auto-input-pw1` both.",
            "On `fmnist2k-100` `drop-intrusions-3x` is three times the length with one neighbour.",
            "`defaults-fidelity` is the defaults of 2026-12-06, after that day's two changes (the",
            "OT term's neighbour search and the graph's exact principal axes), with the class",
            "fidelity of `sample`; `defaults-fidelity-per-class` the same fits again with each",
            "class's share measured alone (100 prior draws and 300 restyled inputs per class;",
            "Fashion-MNIST's classes 0-9 are T-shirt/top, trouser, pullover, dress, coat,",
            "sandal, shirt, sneaker, bag and ankle boot).",
            "`defaults-images` passes the digits as 8x8 images (`input_shape`), which changes",
            "nothing with the defaults; `translate1-images` and `translate-encoder1-images`",
            "translate them by up to one pixel, for the whole model or for the encoder only",
            "(`augmentation=\"translate-encoder\"`: the decoder reconstructs them as given).",
            "`ablation-m2`, `ablation-smooth-elbo` and `ablation-shot` are the three objectives",
            "with the current defaults (the loss balance `elbo_weight=0.01`), the `-elbo1` rows",
            "the same with the ELBO unweighted (`elbo_weight=1`, the paper's balance), on the",
            "same eight draws; `fmnist2k-100` reads the images as rows (the MLP).",
            "`small-images` is the user guide's advice for small image sets (`lr=3e-3`, the",
            "vote of 7 neighbours weighted 0.8); the `small-images-*` rows add to it twice the",
            "length (`-2x`), hidden layers of 1000 (`-hidden1000`), a propagation weight of 1",
            "(`-pw1`), an OT weight of 1 (`-otw1`), or the samples' graph weighted 1",
            "(`-input-graph`), on the digits' eight draws (2026-12-06, on a CPU without",
            "bfloat16 instructions).",
            "",
            "The small protocols' validation splits are drawn from what is left after setting",
            "aside the fixed test split of `accuracy.py` (`_protocols.small_test_split`). An",
            "earlier round of small-protocol fits drew them from all the samples, so that they",
            "overlapped that test split; its rows are kept in `levers-overlapping-splits.jsonl` and",
            "no longer enter this table or any default.",
            "",
        ]
    else:
        lines += ["Settings: `defaults` are the estimator's defaults; every other setting",
                  "changes the parameters shown (`max_epochs: 300` is three times the small",
                  "sets' default length). `LabelSpreading` uses 7 neighbours.",
                  *FILE_LEGENDS.get(path.stem, []), ""]
    for protocol in PROTOCOLS:
        keys = [k for k in groups if k[0] == protocol]
        if not keys:
            continue
        lines += [f"## {protocol}", "",
                  ("| setting | parameters | draws | final error | best | epoch | epochs "
                   "| fit s | fidelity prior / restyled |"),
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for key in keys:
            runs = groups[key]
            best = [min(r["curve"]) for r in runs]
            best_epoch = [1 + r["curve"].index(min(r["curve"])) for r in runs]
            fid = ("–" if "fidelity_prior" not in runs[0] else
                   f"{mean_sd([100 * r['fidelity_prior'] for r in runs])} / "
                   f"{mean_sd([100 * r['fidelity_restyled'] for r in runs])}")
            lines.append(
                f"| {key[1]} | `{key[2]}` | {len(runs)} | "
                f"{mean_sd([r['val_error'] for r in runs])} | {mean_sd(best)} | "
                f"{statistics.mean(best_epoch):.0f} | {len(runs[0]['curve'])} | "
                f"{statistics.mean(r['seconds'] for r in runs):.0f} | {fid} |")
        lines.append("")
        lines += per_class_lines(groups, keys)
    path.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))


def per_class_lines(groups, keys):
    """A table of each class's sample fidelity, for the settings measured with it."""
    keys = [k for k in keys if "fidelity_per_class" in groups[k][0]]
    if not keys:
        return []
    lines = [("Sample fidelity per class, % (mean ± sd over the draws): prior draws / "
              "restyled inputs, and the judge's own recall of the class on real held-out "
              "inputs."), "",
             "| setting | class | prior | restyled | judge on real inputs |",
             "| --- | --- | --- | --- | --- |"]
    for key in keys:
        runs = [r["fidelity_per_class"] for r in groups[key]]
        for i, c in enumerate(runs[0]["classes"]):
            cells = [mean_sd([100 * r[part][i] for r in runs])
                     for part in ("prior", "restyled", "judge")]
            lines.append(f"| {key[1]} | {c} | " + " | ".join(cells) + " |")
    return lines + [""]


if __name__ == "__main__":
    main()
