#!/usr/bin/env bash
# Build the interface packages under interfaces/ (.msg -> C/Python types with rosidl) into a venv that holds the
# ROS 2 Kilted PyPI wheels, so `import mamba_tracking_msgs.msg` (and vision_msgs / event_camera_msgs where no real
# ROS install provides them) works with no sourcing.  On a robot with apt's ROS 2 use colcon instead (README).
#
#   bash scripts/setup_ros.sh [VENV]        # VENV defaults to $VIRTUAL_ENV, then .venv
#
# Idempotent: a stamp holding a hash of this script, interfaces/, the interpreter and the installed ros wheels
# skips the build when nothing changed.  FORCE=1 rebuilds.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
VENV="${1:-${VIRTUAL_ENV:-.venv}}"
VENV="$(cd "$VENV" && pwd)"
PY="$VENV/bin/python"
[ -x "$PY" ] || { echo "[setup_ros] error: no python at $PY (run scripts/setup.sh first)" >&2; exit 1; }

# Order matters only for dependencies between them (none of ours depend on each other).
PACKAGES=(vision_msgs event_camera_msgs dv_ros2_msgs mamba_tracking_msgs)
# Packages that a real ROS distribution ships; skipped when they import from outside this venv.
UPSTREAM=(vision_msgs event_camera_msgs dv_ros2_msgs)

if ! "$PY" -c "import rclpy, rosidl_generator_py" 2>/dev/null; then
  echo "[setup_ros] error: the ROS 2 wheels (rclpy, rosidl generators) are not importable from $PY;" \
    "install requirements.txt first" >&2
  exit 1
fi
command -v cmake >/dev/null 2>&1 || { echo "[setup_ros] error: cmake not found (apt-get install cmake)" >&2; exit 1; }
command -v c++ >/dev/null 2>&1 || { echo "[setup_ros] error: no C/C++ compiler (apt-get install g++)" >&2; exit 1; }

read -r PY_INC NP_INC PY_VER < <("$PY" -c \
  "import sysconfig, sys, numpy; print(sysconfig.get_paths()['include'], numpy.get_include(), '%d.%d' % sys.version_info[:2])")
if [ ! -f "$PY_INC/Python.h" ]; then
  echo "[setup_ros] error: $PY_INC/Python.h not found: the Python development headers are needed to build the" \
    "message extensions (Debian/Ubuntu: apt-get install python${PY_VER}-dev, or python3-dev)" >&2
  exit 1
fi

hash="$( {
  cat "$0"
  find interfaces -type f -not -name '*.pyc' | LC_ALL=C sort | xargs cat
  echo "$PY_INC $NP_INC"
  ls "$VENV"/lib/python*/site-packages | grep -E '^ros_.*\.dist-info$' | LC_ALL=C sort
} | sha256sum | cut -c1-16)"
stamp="$VENV/.ros-interfaces-$hash"
if [ -f "$stamp" ] && [ "${FORCE:-0}" != 1 ]; then
  echo "[setup_ros] interfaces are up to date"
  exit 0
fi

# The wheels' *__rosidl_generator_pyExport.cmake files name the wheel builder's Python and numpy include
# directories (/opt/python/...); point them at this interpreter's, or rosidl_generate_interfaces() cannot compile.
mapfile -t exports < <(find "$VENV/share" -name '*__rosidl_generator_pyExport.cmake')
if [ "${#exports[@]}" -gt 0 ]; then
  sed -i -E "s#INTERFACE_INCLUDE_DIRECTORIES \"[^\"]*python3[^\"]*\"#INTERFACE_INCLUDE_DIRECTORIES \"$PY_INC;$NP_INC\"#" \
    "${exports[@]}"
fi

export VIRTUAL_ENV="$VENV"
export PATH="$VENV/bin:$PATH"
export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export CMAKE_PREFIX_PATH="$VENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
BUILD="$ROOT/build/rosidl"

for pkg in "${PACKAGES[@]}"; do
  if [[ " ${UPSTREAM[*]} " == *" $pkg "* ]]; then
    where="$("$PY" -c "import $pkg.msg, os; print(os.path.realpath($pkg.__file__))" 2>/dev/null || true)"
    if [ -n "$where" ] && [[ "$where" != "$VENV"/* ]]; then
      echo "[setup_ros] $pkg comes from the ROS installation ($where): not building the stand-in"
      continue
    fi
  fi
  echo "[setup_ros] building $pkg into $VENV"
  start=$SECONDS
  log="$BUILD/$pkg.log"
  mkdir -p "$BUILD/$pkg"
  if ! {
    cmake -S "interfaces/$pkg" -B "$BUILD/$pkg" \
      -DCMAKE_INSTALL_PREFIX="$VENV" \
      -DCMAKE_BUILD_TYPE=Release \
      -DBUILD_TESTING=OFF \
      -DPython3_EXECUTABLE="$PY" \
      -DPython3_FIND_VIRTUALENV=ONLY \
      -DPYTHON_EXECUTABLE="$PY" &&
      cmake --build "$BUILD/$pkg" -j "$JOBS" &&
      cmake --install "$BUILD/$pkg"
  } >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "[setup_ros] error: building $pkg failed (full log: $log)" >&2
    exit 1
  fi
  "$PY" -c "import $pkg.msg" || { echo "[setup_ros] error: $pkg was built but does not import" >&2; exit 1; }
  echo "[setup_ros] $pkg built in $((SECONDS - start)) s"
done

rm -f "$VENV"/.ros-interfaces-*
touch "$stamp"
echo "[setup_ros] done"
