"""Class names for imported data sets: built-in sets, text files, lists, or numbered defaults.

A class-name spec is one of

    None                     decided from the data: `ntu60` / `ntu120` for NTU-style data with
                             60 / 120 classes, else `class_1 .. class_K`
    "ntu60", "ntu120"        the NTU RGB+D action names (package resource; NTU-60 = first 60)
    a path                   a UTF-8 text file, one name a line (blank lines are skipped)
    a list / tuple of str    the names themselves

and must give exactly one name per class. Labels are 0-based class indices: at most
`MAX_LABEL` in any file (importers refuse larger ones before casting them), and without names
at most `MAX_GENERATED_CLASSES` classes are made up, so that a stray label such as 1e9 is an
error, not a billion class names.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from importlib.resources import files
from pathlib import Path

from skelcmd.errors import UserError

BUILTIN_CLASS_SETS = {"ntu60": 60, "ntu120": 120}
MAX_LABEL = 2**31 - 1  # the largest label any importer accepts (int32, so no cast wraps it)
MAX_GENERATED_CLASSES = 10_000  # most classes named class_1 .. class_K without a names spec

ClassNamesSpec = str | Path | Sequence[str] | None


def ntu_class_names(count: int = 120) -> tuple[str, ...]:
    """The first `count` NTU RGB+D 120 action names (60 gives the NTU-60 set)."""
    text = (files("skelcmd") / "resources" / "ntu120_classes.txt").read_text(encoding="utf-8")
    names = tuple(line.strip() for line in text.splitlines() if line.strip())
    return names[:count]


def _read_names_file(path: Path) -> tuple[str, ...]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(
            f"cannot read the class-name file {path} ({exc}); give a UTF-8 text file with one "
            "class name a line."
        ) from None
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def spec_names(spec: ClassNamesSpec) -> tuple[str, ...]:
    """The names a spec gives by itself, in order (a built-in set, a file's lines, a list),
    not yet checked; a spec of None gives none."""
    if spec is None:
        return ()
    if isinstance(spec, (str, Path)):
        key = str(spec)
        if key in BUILTIN_CLASS_SETS:
            return ntu_class_names(BUILTIN_CLASS_SETS[key])
        if Path(key).is_file():
            return _read_names_file(Path(key))
        if Path(key).is_dir():
            raise UserError(
                f"class names {key}: a folder, not a file; give a text file with one name a line."
            )
        raise UserError(
            f"class names {key!r}: no such file, and not a built-in set "
            f"({', '.join(BUILTIN_CLASS_SETS)}). Give a text file with one name a line."
        )
    return tuple(str(name).strip() for name in spec)


def resolve_class_names(
    spec: ClassNamesSpec, num_classes: int, where: str, *, layout_name: str = "ntu25"
) -> tuple[str, ...]:
    """Turn a class-name spec into exactly `num_classes` names.

    `where` names the data whose labels set `num_classes` (used in error messages);
    `layout_name` only matters for `spec=None`: NTU names are picked only for `ntu25` data.
    """
    if num_classes < 1:
        raise UserError(f"{where} has no classes; check its labels.")
    if spec is None and num_classes > MAX_GENERATED_CLASSES:
        raise UserError(
            f"{where} has labels up to {num_classes - 1:,}, so {num_classes:,} classes; without "
            f"class names skelcmd makes up at most {MAX_GENERATED_CLASSES:,} (class_1, "
            "class_2, ...). Check the labels (0-based class indices), or give one name per "
            "class with --classes FILE."
        )
    if spec is None:
        builtin = f"ntu{num_classes}"
        if layout_name == "ntu25" and builtin in BUILTIN_CLASS_SETS:
            return ntu_class_names(num_classes)
        return tuple(f"class_{k}" for k in range(1, num_classes + 1))
    names = spec_names(spec)
    if isinstance(spec, (str, Path)):
        key = str(spec)
        source = (
            f"the built-in set {key!r}"
            if key in BUILTIN_CLASS_SETS
            else f"the class-name file {key}"
        )
    else:
        source = "the class-name list"
        if any(not name for name in names):
            raise UserError(f"{source} holds an empty class name; give one name per class.")
    if len(names) != num_classes:
        raise UserError(
            f"{source} gives {len(names)} class names, but {where} has {num_classes} classes "
            f"(labels 0..{num_classes - 1}); give exactly one name per class, in label order."
        )
    if len(set(names)) != len(names):
        repeated = sorted({name for name in names if names.count(name) > 1})
        raise UserError(f"{source} repeats the class names {repeated}; give distinct names.")
    return names


def names_by_index(
    pairs: Iterable[tuple[int, str | None]], spec: ClassNamesSpec, where: str
) -> tuple[str, ...]:
    """Class names for labels 0..K-1, K = the largest label + 1, from (label, name) pairs the
    data gives (name None where it gives none).

    Without `spec` every label 0..K-1 must be named, and never two ways. With `spec` (as for
    `resolve_class_names`) the names come from it, and must agree with those the data gives;
    it may name more than K classes (all 400 of Kinetics for a subset of its clips), not fewer.
    """
    given: dict[int, str] = {}
    labels = set()
    for label, name in pairs:
        labels.add(label)
        if name is None:
            continue
        name = str(name).strip()
        if given.setdefault(label, name) != name:
            raise UserError(
                f"{where} names label {label} both {given[label]!r} and {name!r}; give "
                "consistent files."
            )
    if not labels:
        raise UserError(f"{where} has no labels.")
    num_classes = max(labels) + 1
    if min(labels) < 0 or num_classes - 1 > MAX_LABEL:
        bad = min(labels) if min(labels) < 0 else num_classes - 1
        raise UserError(f"{where} has label {bad}; labels must lie in 0..{MAX_LABEL:,}.")
    if spec is not None:  # it may name more classes than the labels present reach
        num_classes = max(num_classes, len(spec_names(spec)))
        names = resolve_class_names(spec, num_classes, where, layout_name="")
        wrong = sorted(k for k, name in given.items() if names[k] != name)
        if wrong:
            k = wrong[0]
            raise UserError(
                f"the class names give label {k} the name {names[k]!r}, but {where} calls it "
                f"{given[k]!r} ({len(wrong)} such labels); give the class-name file that "
                "belongs to these labels."
            )
        return names
    if len(given) < num_classes:  # counted first: a stray label of 1e9 is no loop of 1e9
        unnamed = [k for k in range(min(num_classes, len(given) + 5)) if k not in given]
        raise UserError(
            f"{where} names no class for labels {unnamed[:5]} (labels run 0..{num_classes - 1}); "
            "give the class names with --classes FILE (one name a line, in label order)."
        )
    return tuple(given[k] for k in range(num_classes))
