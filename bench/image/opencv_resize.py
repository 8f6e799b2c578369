#!/usr/bin/env python3
"""opencv_resize.py - the img2dataset resize path (resizer.py, border mode) on
one thread, timed per stage: cv2.imdecode(IMREAD_UNCHANGED), albumentations'
longest_max_size (scale = size / max(w, h), dims rounded half-to-even,
cv2.resize INTER_AREA when shrinking, LANCZOS4 when enlarging), A.pad
(cv2.copyMakeBorder, white, centred) and cv2.imencode('.jpg', q95).
albumentations itself is not in Debian; its two calls are written out here.

Usage: opencv_resize.py [--size 256] [--quality 95] [--out DIR] [--compare DIR] FILE...
Prints one line: "opencv images=N ok=N seconds=S cpu=S decode=S resize=S
encode=S" (wall and CPU seconds of the processing alone, files already in
memory); --out writes the outputs, --compare prints the PSNR of ours
(DIR/NNNNN.jpg) against OpenCV's.
"""
import argparse
import sys
import time

import cv2
import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--quality", type=int, default=95)
    ap.add_argument("--out", help="write outputs as DIR/NNNNN.jpg (after timing)")
    ap.add_argument("--compare", help="print the PSNR of DIR/NNNNN.jpg against ours")
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    cv2.setNumThreads(1)
    blobs = []
    for f in a.files:
        with open(f, "rb") as fh:
            blobs.append(np.frombuffer(fh.read(), np.uint8))
    params = [int(cv2.IMWRITE_JPEG_QUALITY), a.quality]
    S = a.size
    outs = []
    td = tr = te = 0.0
    ok = 0
    c0 = time.process_time()
    t0 = time.perf_counter()
    for buf in blobs:
        t1 = time.perf_counter()
        img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
        t2 = time.perf_counter()
        td += t2 - t1
        if img is None:
            continue
        h, w = img.shape[:2]
        scale = S / float(max(w, h))
        if scale != 1.0:
            nh, nw = round(h * scale), round(w * scale)
            inter = cv2.INTER_AREA if max(w, h) > S else cv2.INTER_LANCZOS4
            img = cv2.resize(img, (nw, nh), interpolation=inter)
        h, w = img.shape[:2]
        top = (S - h) // 2
        left = (S - w) // 2
        img = cv2.copyMakeBorder(img, top, S - h - top, left, S - w - left,
                                 cv2.BORDER_CONSTANT, value=[255, 255, 255])
        t3 = time.perf_counter()
        tr += t3 - t2
        out = cv2.imencode(".jpg", img, params=params)[1].tobytes()
        te += time.perf_counter() - t3
        if out:
            ok += 1
        outs.append(out)
    total = time.perf_counter() - t0
    cpu = time.process_time() - c0
    print(f"opencv images={len(blobs)} ok={ok} seconds={total:.4f} cpu={cpu:.4f} decode={td:.4f} "
          f"resize={tr:.4f} encode={te:.4f}")
    if a.out:
        for i, out in enumerate(outs):
            with open(f"{a.out}/{i:05d}.jpg", "wb") as fh:
                fh.write(out)
    if a.compare:
        psnrs = []
        for i, out in enumerate(outs):
            mine = cv2.imread(f"{a.compare}/{i:05d}.jpg", cv2.IMREAD_UNCHANGED)
            theirs = cv2.imdecode(np.frombuffer(out, np.uint8), cv2.IMREAD_UNCHANGED)
            if mine is None or mine.shape != theirs.shape:
                print(f"compare: {i:05d}: shape {None if mine is None else mine.shape} "
                      f"!= {theirs.shape}")
                continue
            psnrs.append(cv2.PSNR(mine, theirs))
        if psnrs:
            psnrs.sort()
            print(f"compare: PSNR ours vs opencv over {len(psnrs)} images: "
                  f"min={psnrs[0]:.1f} median={psnrs[len(psnrs) // 2]:.1f} dB")


if __name__ == "__main__":
    sys.exit(main())
