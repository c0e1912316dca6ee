"""Real motion capture (CMU, HDM05) as 3D tracks of the 13 feature joints, in metres, y up.

Why: the synthetic generator needs real timing and dynamics. This module parses the two file formats the
mocap folder holds (Acclaim ASF/AMC and BVH), runs forward kinematics, keeps the 13 joints the pose features use
(`streaming.pose_spec.FEATURE_JOINT_NAMES`, nose first) and labels each clip with one of our classes where its
own description says so (the CMU index, or the HDM05 class folder).

Licences (see ../shared/data/mocap/README.md): CMU clips may train shipped weights (credit line below);
HDM05 is CC BY-SA 3.0, and whether trained weights are an adaptation is unsettled, so HDM05 clips are tagged
validation-only and `training_clips` leaves them out unless asked (`allow_share_alike=True`).

    clips = load_mocap_clips(Path("../shared/data/mocap"))          # 10 samples/s
    train = training_clips(clips)                                   # CMU only
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from streaming.pose_spec import FEATURE_JOINT_NAMES
from streaming.sampler import stride_indices

#: Credit lines the README and the bundle report must carry when these clips are used.
CMU_CREDIT = (
    "The data used in this project was obtained from mocap.cs.cmu.edu. "
    "The database was created with funding from NSF EIA-0196217."
)
HDM05_CREDIT = (
    "The data used in this project was obtained from HDM05 (M. Mueller, T. Roeder, M. Clausen, B. Eberhardt, "
    "B. Krueger, A. Weber: Documentation Mocap Database HDM05, Tech. Rep. CG-2007-2, Universitaet Bonn, 2007), "
    "CC BY-SA 3.0."
)
LICENCE_CMU = "cmu-free"  # "free for all uses"; shipped weights allowed with the credit line
LICENCE_HDM05 = "cc-by-sa-3.0"  # validation only by default (see module docstring)

#: Acclaim length unit -> metres: CMU lengths are inches / 0.45 (README), so multiply by 0.0254 / 0.45.
INCH_M = 0.0254
#: Nose estimate: along the head bone from its base, then forward, both as fractions of the head bone length.
NOSE_UP, NOSE_FORWARD = 0.45, 0.55
MOCAP_FPS = 120.0

#: Coarse action (from the description) -> our label; actions missing here stay unlabelled (label None).
ACTION_LABELS: dict[str, str] = {
    "walk": "Walk",
    "jump": "Jump",
    "squat": "Squat",
    "kick": "Kick",
    "punch": "Punch",
    "bend": "Bend",
}
#: HDM05 class folder -> coarse action.
HDM05_ACTIONS: dict[str, str] = {
    "depositFloorR": "bend",
    "elbowToKnee1RepsLelbowStart": "elbow_to_knee",
    "grabHighR": "reach_up",
    "hopBothLegs1hops": "jump",
    "jogLeftCircle4StepsRstart": "run",
    "kickLFront1Reps": "kick",
    "lieDownFloor": "lie_down",
    "rotateArmsBothBackward1Reps": "arm_circles",
    "squat1Reps": "squat",
}


@dataclass(frozen=True)
class MocapClip:
    """One take as 13 feature joints over time: (T, 13, 3) metres, y up, joints in FEATURE_JOINT_NAMES order.

    `action` is the coarse action read from the description (walk, run, jump, lie_down, ...); `label` is our
    class for it, or None where our label list has no class for it (run, lie_down, arm_circles, ...).
    """

    name: str
    source: str  # "cmu" or "hdm05"
    licence: str  # LICENCE_CMU or LICENCE_HDM05
    description: str
    action: str
    label: str | None
    fps: float
    joints: np.ndarray
    path: Path

    @property
    def duration_s(self) -> float:
        return len(self.joints) / self.fps

    @property
    def training_allowed(self) -> bool:
        """May this clip help fit the shipped weights (with the credit line)? HDM05: no, by default."""
        return self.licence == LICENCE_CMU


# ---------------------------------------------------------------------------------------------- rotations


def axis_rotation(axis: str, degrees: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotations about x, y or z by `degrees` (T,), for column vectors."""
    a = np.deg2rad(np.asarray(degrees, np.float64))
    c, s = np.cos(a), np.sin(a)
    one, zero = np.ones_like(a), np.zeros_like(a)
    if axis == "x":
        rows = [[one, zero, zero], [zero, c, -s], [zero, s, c]]
    elif axis == "y":
        rows = [[c, zero, s], [zero, one, zero], [-s, zero, c]]
    elif axis == "z":
        rows = [[c, -s, zero], [s, c, zero], [zero, zero, one]]
    else:
        raise ValueError(f"rotation axis must be x, y or z, got {axis!r}")
    return np.stack([np.stack(r, axis=-1) for r in rows], axis=-2)


def euler_matrices(degrees: np.ndarray, axes: str) -> np.ndarray:
    """(T, 3, 3) product R_axes[0] @ R_axes[1] @ ... of per-axis rotations; `degrees` is (T, len(axes)).

    BVH: channels listed Z X Y mean R = Rz Rx Ry. Acclaim: "XYZ" (x applied first) is R = Rz Ry Rx, i.e. call
    this with the axes reversed.
    """
    degrees = np.atleast_2d(np.asarray(degrees, np.float64))
    out = np.broadcast_to(np.eye(3), (len(degrees), 3, 3)).copy()
    for k, axis in enumerate(axes.lower()):
        out = out @ axis_rotation(axis, degrees[:, k])
    return out


# ---------------------------------------------------------------------------------------------- ASF / AMC


@dataclass(frozen=True)
class AsfBone:
    name: str
    direction: np.ndarray  # (3,) unit vector in the world frame of the rest pose
    length: float  # file units
    axis_deg: np.ndarray  # (3,) the bone's local frame, as x, y, z angles in `axis_order`
    axis_order: str
    dof: tuple[str, ...]  # e.g. ("rx", "ry", "rz")


@dataclass(frozen=True)
class AsfSkeleton:
    """An Acclaim skeleton: bones, hierarchy (parent per bone; the root is "root") and the length unit."""

    bones: dict[str, AsfBone]
    parent: dict[str, str]
    length_unit: float  # ":units length" (0.45 in CMU and HDM05): file length = inches * unit
    root_order: tuple[str, ...]
    root_axis: str

    @property
    def metres_per_unit(self) -> float:
        return INCH_M / self.length_unit

    def order(self) -> list[str]:
        """Bones parents-first."""
        children: dict[str, list[str]] = {}
        for child, par in self.parent.items():
            children.setdefault(par, []).append(child)
        out, todo = [], list(children.get("root", []))
        while todo:
            b = todo.pop(0)
            out.append(b)
            todo.extend(children.get(b, []))
        return out


def parse_asf(text: str) -> AsfSkeleton:
    """Parse an Acclaim skeleton file's text."""
    section, bones, parent = "", {}, {}
    length_unit, root_order, root_axis = 1.0, ("TX", "TY", "TZ", "RX", "RY", "RZ"), "XYZ"
    cur: dict | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(":"):
            section = line.split()[0][1:].lower()
            continue
        words = line.split()
        if section == "units" and words[0] == "length":
            length_unit = float(words[1])
        elif section == "root":
            if words[0] == "order":
                root_order = tuple(w.upper() for w in words[1:])
            elif words[0] == "axis":
                root_axis = words[1].upper()
        elif section == "bonedata":
            if words[0] == "begin":
                cur = {"dof": (), "axis": np.zeros(3), "order": "XYZ"}
            elif words[0] == "end" and cur is not None:
                bones[cur["name"]] = AsfBone(
                    cur["name"], cur["direction"], cur["length"], cur["axis"], cur["order"], cur["dof"]
                )
                cur = None
            elif cur is not None:
                if words[0] == "name":
                    cur["name"] = words[1]
                elif words[0] == "direction":
                    cur["direction"] = np.array([float(w) for w in words[1:4]])
                elif words[0] == "length":
                    cur["length"] = float(words[1])
                elif words[0] == "axis":
                    cur["axis"] = np.array([float(w) for w in words[1:4]])
                    cur["order"] = words[4].upper() if len(words) > 4 else "XYZ"
                elif words[0] == "dof":
                    cur["dof"] = tuple(w.lower() for w in words[1:])
        elif section == "hierarchy" and words[0] not in ("begin", "end"):
            for child in words[1:]:
                parent[child] = words[0]
    missing = [b for b in parent if b not in bones]
    if not bones or missing:
        raise ValueError(f"not a usable ASF skeleton (bones {len(bones)}, hierarchy names without bones {missing})")
    return AsfSkeleton(bones, parent, length_unit, root_order, root_axis)


def parse_amc(text: str) -> dict[str, np.ndarray]:
    """Parse AMC motion text: bone name -> (T, n values) in file order (degrees, root translation in units)."""
    frames: list[dict[str, list[float]]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ":")):
            continue
        if line.isdigit():
            frames.append({})
            continue
        if not frames:
            raise ValueError("AMC values before the first frame number")
        words = line.split()
        frames[-1][words[0]] = [float(w) for w in words[1:]]
    if not frames:
        raise ValueError("AMC text holds no frames")
    names = frames[0].keys()
    return {n: np.array([f[n] for f in frames], np.float64) for n in names}


def _acclaim_matrix(angles_xyz: np.ndarray, order: str) -> np.ndarray:
    """Acclaim rotation with angles given per axis (x, y, z) applied in `order` (first letter first)."""
    idx = {"X": 0, "Y": 1, "Z": 2}
    seq = order[::-1]  # applied first = rightmost factor
    return euler_matrices(np.stack([angles_xyz[:, idx[a]] for a in seq], axis=1), seq)


def asf_forward_kinematics(skel: AsfSkeleton, motion: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Bone END points (T, 3) in metres for every bone, plus "root"; Acclaim: local = C M C^-1."""
    root = motion["root"]
    n = len(root)
    chans = {c: root[:, i] for i, c in enumerate(skel.root_order)}
    root_pos = np.stack([chans.get("TX", 0 * root[:, 0]), chans.get("TY", 0 * root[:, 0]), chans["TZ"]], axis=1)
    rot_xyz = np.stack([chans.get(a, np.zeros(n)) for a in ("RX", "RY", "RZ")], axis=1)
    glob = {"root": _acclaim_matrix(rot_xyz, skel.root_axis)}
    pos = {"root": root_pos}
    for name in skel.order():
        bone = skel.bones[name]
        c = _acclaim_matrix(bone.axis_deg[None, :], bone.axis_order)[0]
        xyz = np.zeros((n, 3))
        values = motion.get(name)
        for k, d in enumerate(bone.dof):
            if values is not None and d in ("rx", "ry", "rz"):
                xyz[:, "xyz".index(d[1])] = values[:, k]
        local = c @ _acclaim_matrix(xyz, bone.axis_order) @ c.T
        par = skel.parent[name]
        glob[name] = glob[par] @ local
        pos[name] = pos[par] + bone.length * (glob[name] @ bone.direction)
    return {k: v * skel.metres_per_unit for k, v in pos.items()}


#: ASF bone whose END is each feature joint (nose handled separately: from upperneck/head ends).
ASF_JOINTS: dict[str, str] = {
    "l_shoulder": "lclavicle",
    "r_shoulder": "rclavicle",
    "l_elbow": "lhumerus",
    "r_elbow": "rhumerus",
    "l_wrist": "lradius",
    "r_wrist": "rradius",
    "l_hip": "lhipjoint",
    "r_hip": "rhipjoint",
    "l_knee": "lfemur",
    "r_knee": "rfemur",
    "l_ankle": "ltibia",
    "r_ankle": "rtibia",
}


def _estimate_nose(joints: np.ndarray, head_base: np.ndarray, head_top: np.ndarray) -> np.ndarray:
    """Nose (T, 3) from the head bone and the body's forward direction (no mocap marker sits on the nose).

    forward = left x up (right-handed, y up): (l_shoulder - r_shoulder) x (shoulder mid - hip mid).
    """
    names = FEATURE_JOINT_NAMES
    left = joints[:, names.index("l_shoulder")] - joints[:, names.index("r_shoulder")]
    up = (joints[:, 1] + joints[:, 2]) / 2 - (joints[:, 7] + joints[:, 8]) / 2
    fwd = np.cross(left, up)
    fwd /= np.maximum(np.linalg.norm(fwd, axis=1, keepdims=True), 1e-9)
    head = head_top - head_base
    length = np.linalg.norm(head, axis=1, keepdims=True)
    return head_base + NOSE_UP * head + NOSE_FORWARD * length * fwd


def _assemble(points: dict[str, np.ndarray], head_base: np.ndarray, head_top: np.ndarray) -> np.ndarray:
    t = len(head_base)
    joints = np.zeros((t, len(FEATURE_JOINT_NAMES), 3))
    for i, name in enumerate(FEATURE_JOINT_NAMES[1:], start=1):
        joints[:, i] = points[name]
    joints[:, 0] = _estimate_nose(joints, head_base, head_top)
    return joints


def asf_amc_joints(asf_text: str, amc_text: str) -> np.ndarray:
    """(T, 13, 3) feature joints in metres from an ASF skeleton and its AMC motion."""
    skel = parse_asf(asf_text)
    pos = asf_forward_kinematics(skel, parse_amc(amc_text))
    points = {j: pos[b] for j, b in ASF_JOINTS.items()}
    return _assemble(points, pos["upperneck"], pos["head"])


# ---------------------------------------------------------------------------------------------- BVH


@dataclass(frozen=True)
class BvhJoint:
    name: str
    parent: int  # -1 for the root
    offset: np.ndarray  # (3,) file units
    channels: tuple[str, ...]
    end_site: np.ndarray | None  # offset of the End Site below this joint, if any


@dataclass(frozen=True)
class BvhMotion:
    joints: list[BvhJoint]
    frame_time: float
    values: np.ndarray  # (T, total channels)

    def index(self, name: str) -> int:
        for i, j in enumerate(self.joints):
            if j.name == name:
                return i
        raise KeyError(f"BVH has no joint {name!r}")


def parse_bvh(text: str) -> BvhMotion:
    """Parse BVH text: hierarchy (offsets, channel orders), frame time and the channel values."""
    tokens = text.split()
    joints: list[BvhJoint] = []
    stack: list[int] = []
    i, pending_end = 0, False
    cur: dict | None = None

    def flush() -> None:
        nonlocal cur
        if cur is not None:
            joints.append(BvhJoint(cur["name"], cur["parent"], cur["offset"], cur["channels"], None))
            stack.append(len(joints) - 1)
            cur = None

    while i < len(tokens) and tokens[i] != "MOTION":
        tok = tokens[i]
        if tok in ("ROOT", "JOINT"):
            flush()
            cur = {"name": tokens[i + 1], "parent": stack[-1] if stack else -1, "channels": ()}
            i += 2
        elif tok == "End":
            flush()
            pending_end = True
            i += 2
        elif tok == "OFFSET":
            off = np.array([float(t) for t in tokens[i + 1 : i + 4]])
            if pending_end:
                j = joints[stack[-1]]
                joints[stack[-1]] = replace(j, end_site=off)
            else:
                assert cur is not None
                cur["offset"] = off
            i += 4
        elif tok == "CHANNELS":
            k = int(tokens[i + 1])
            assert cur is not None
            cur["channels"] = tuple(tokens[i + 2 : i + 2 + k])
            i += 2 + k
        elif tok == "{":
            i += 1
        elif tok == "}":
            flush()
            if pending_end:
                pending_end = False
            elif stack:
                stack.pop()
            i += 1
        else:
            i += 1
    if i >= len(tokens) or not joints:
        raise ValueError("not a BVH file (no HIERARCHY joints or no MOTION section)")
    n_frames = int(tokens[i + 2])
    frame_time = float(tokens[i + 5])
    n_chan = sum(len(j.channels) for j in joints)
    values = np.array(tokens[i + 6 : i + 6 + n_frames * n_chan], np.float64)
    if values.size != n_frames * n_chan:
        raise ValueError(f"BVH says {n_frames} frames x {n_chan} channels but holds {values.size} values")
    return BvhMotion(joints, frame_time, values.reshape(n_frames, n_chan))


def bvh_forward_kinematics(motion: BvhMotion) -> tuple[np.ndarray, np.ndarray]:
    """World positions (T, J, 3) of every joint's origin and (T, J, 3) of its End Site (NaN where none).

    Units stay the file's. Rotation channels multiply in the listed order (Z X Y -> Rz Rx Ry).
    """
    t = len(motion.values)
    n = len(motion.joints)
    pos = np.zeros((t, n, 3))
    ends = np.full((t, n, 3), np.nan)
    rots: list[np.ndarray] = []
    col = 0
    for k, j in enumerate(motion.joints):
        vals = motion.values[:, col : col + len(j.channels)]
        col += len(j.channels)
        trans = j.offset[None, :].repeat(t, 0)
        rot_axes, rot_vals = "", []
        for c, ch in enumerate(j.channels):
            kind = ch.lower()
            if kind.endswith("position"):
                trans[:, "xyz".index(kind[0])] = vals[:, c]
            elif kind.endswith("rotation"):
                rot_axes += kind[0]
                rot_vals.append(vals[:, c])
        local = euler_matrices(np.stack(rot_vals, 1), rot_axes) if rot_axes else np.broadcast_to(np.eye(3), (t, 3, 3))
        if j.parent < 0:
            rots.append(local)
            pos[:, k] = trans
        else:
            rots.append(rots[j.parent] @ local)
            pos[:, k] = pos[:, j.parent] + np.einsum("tij,tj->ti", rots[j.parent], trans)
        if j.end_site is not None:
            ends[:, k] = pos[:, k] + rots[k] @ j.end_site
    return pos, ends


#: Joint names of the two BVH conventions in the folder (see README): feature joint -> BVH joint.
BVH_NAME_SETS: tuple[dict[str, str], ...] = (
    {  # cgspeed "Daz/Poser-friendly" (centimetres)
        "l_shoulder": "lShldr",
        "r_shoulder": "rShldr",
        "l_elbow": "lForeArm",
        "r_elbow": "rForeArm",
        "l_wrist": "lHand",
        "r_wrist": "rHand",
        "l_hip": "lThigh",
        "r_hip": "rThigh",
        "l_knee": "lShin",
        "r_knee": "rShin",
        "l_ankle": "lFoot",
        "r_ankle": "rFoot",
        "head": "head",
    },
    {  # cgspeed "3dsMax-friendly" (CMU ASF units)
        "l_shoulder": "LeftShoulder",
        "r_shoulder": "RightShoulder",
        "l_elbow": "LeftElbow",
        "r_elbow": "RightElbow",
        "l_wrist": "LeftWrist",
        "r_wrist": "RightWrist",
        "l_hip": "LeftHip",
        "r_hip": "RightHip",
        "l_knee": "LeftKnee",
        "r_knee": "RightKnee",
        "l_ankle": "LeftAnkle",
        "r_ankle": "RightAnkle",
        "head": "Head",
    },
)


def bvh_metres_per_unit(leg_length_units: float) -> float:
    """Unit of a BVH file judged from a leg's length (hip to ankle): centimetres, CMU units, or metres.

    A real adult leg is 0.7-1.0 m: 70-100 in centimetres, about 13-18 in CMU units (inches / 0.45).
    """
    for metres_per_unit in (0.01, INCH_M / 0.45, 1.0, 0.0254):
        if 0.55 <= leg_length_units * metres_per_unit <= 1.2:
            return metres_per_unit
    raise ValueError(f"cannot tell the BVH's length unit from a leg of {leg_length_units:.3g} units")


def bvh_joints(text: str) -> tuple[np.ndarray, float]:
    """(T, 13, 3) feature joints in metres and the frame rate, from BVH text."""
    motion = parse_bvh(text)
    names = {j.name for j in motion.joints}
    mapping = next((m for m in BVH_NAME_SETS if set(m.values()) <= names), None)
    if mapping is None:
        raise ValueError("BVH joint names match neither the Daz nor the 3dsMax CMU conversion")
    pos, ends = bvh_forward_kinematics(motion)
    idx = {k: motion.index(v) for k, v in mapping.items()}
    leg = np.linalg.norm(motion.joints[idx["l_knee"]].offset) + np.linalg.norm(motion.joints[idx["l_ankle"]].offset)
    scale = bvh_metres_per_unit(leg)
    pos, ends = pos * scale, ends * scale
    head = idx["head"]
    head_top = ends[:, head]
    if np.isnan(head_top).any():  # Daz: the head's children are the eyes; its top is above their midpoint
        kids = [k for k, j in enumerate(motion.joints) if j.parent == head]
        eyes = pos[:, kids].mean(axis=1)
        head_top = pos[:, head] + 1.6 * (eyes - pos[:, head])
    points = {k: pos[:, i] for k, i in idx.items() if k != "head"}
    return _assemble(points, pos[:, head], head_top), 1.0 / motion.frame_time


# ---------------------------------------------------------------------------------------------- labels


def action_from_description(text: str) -> str | None:
    """Coarse action from a CMU description ("soccer - kick ball" -> kick); None when it is none of ours."""
    t = text.lower()
    rules = (
        ("punch", "punch"),
        ("kick", "kick"),
        ("bend", "bend"),
        ("squat", "squat"),
        ("hop", "jump"),
        ("jump", "jump"),
        ("run", "run"),
        ("jog", "run"),
        ("walk", "walk"),
    )
    for word, action in rules:
        if re.search(rf"\b{word}", t):
            return action
    return None


def read_cmu_index(path: Path) -> dict[str, str]:
    """CMU index CSV -> {"02_01": "walk", ...} (subject and trial zero-padded to two digits)."""
    out = {}
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        for row in csv.DictReader(f):
            try:
                subject, trial = int(row["Subject"]), int(row["Trial #"])
            except (KeyError, ValueError):
                continue
            out[f"{subject:02d}_{trial:02d}"] = row["Motion Description"].strip()
    return out


#: Takes whose description would mislead: 131 is "Michael Jackson styled" motion, its hop is not a plain jump.
STYLISED_TAKES = {"131_03"}


def resample(clip: MocapClip, rate: float | None) -> MocapClip:
    """The clip at `rate` samples/s, frames chosen by timestamp as the live engine's sampler does (None: as is)."""
    if rate is None or rate >= clip.fps:
        return clip
    times = [i / clip.fps for i in range(len(clip.joints))]
    keep = stride_indices(times, rate)
    return replace(clip, joints=clip.joints[keep], fps=float(rate))


def load_mocap_clips(root: Path, rate: float | None = 10.0) -> list[MocapClip]:
    """Every clip under the mocap folder, parsed and retargeted; `rate` samples/s (None keeps 120 fps).

    Raises FileNotFoundError naming the folder when it is missing.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no mocap folder at {root}: point to ../shared/data/mocap")
    index_csv = root / "cmu_index" / "CMU data.csv"
    index = read_cmu_index(index_csv) if index_csv.exists() else {}
    clips: list[MocapClip] = []
    for amc in sorted(root.rglob("*.amc")):
        hdm = amc.name.startswith("HDM_")
        if hdm:
            actor = amc.name.split("_")[1]
            asf = next(p for p in amc.parents if (p / f"HDM_{actor}.asf").exists()) / f"HDM_{actor}.asf"
            cls = amc.parent.name
            description, action = f"HDM05 {cls}", HDM05_ACTIONS.get(cls, cls)
            fps = float(amc.stem.rsplit("_", 1)[-1]) if amc.stem.rsplit("_", 1)[-1].isdigit() else MOCAP_FPS
        else:
            asf = amc.parent / f"{amc.stem.split('_')[0]}.asf"
            description = index.get(amc.stem, "")
            action = action_from_description(description) or "other"
            fps = MOCAP_FPS
        joints = asf_amc_joints(asf.read_text(errors="replace"), amc.read_text(errors="replace"))
        clips.append(_clip(amc, hdm, description, action, fps, joints))
    for bvh in sorted(root.rglob("*.bvh")):
        joints, fps = bvh_joints(bvh.read_text(errors="replace"))
        description = index.get(bvh.stem, "")
        action = "stylised_hop" if bvh.stem in STYLISED_TAKES else action_from_description(description) or "other"
        clips.append(_clip(bvh, False, description, action, round(fps, 3), joints))
    return [resample(c, rate) for c in clips]


def _clip(path: Path, hdm: bool, description: str, action: str, fps: float, joints: np.ndarray) -> MocapClip:
    return MocapClip(
        name=path.stem,
        source="hdm05" if hdm else "cmu",
        licence=LICENCE_HDM05 if hdm else LICENCE_CMU,
        description=description,
        action=action,
        label=ACTION_LABELS.get(action),
        fps=fps,
        joints=joints.astype(np.float32),
        path=path,
    )


def training_clips(clips: list[MocapClip], allow_share_alike: bool = False) -> list[MocapClip]:
    """The clips that may fit shipped weights: CMU; HDM05 too only when the weights will be shared under BY-SA."""
    return [c for c in clips if c.training_allowed or (allow_share_alike and c.licence == LICENCE_HDM05)]
