"""ament_python build for mamba_tracking_ros (also installable with pip)."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "mamba_tracking_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.xml")),
        (f"share/{PACKAGE}/launch", glob("launch/*.py")),
        (f"share/{PACKAGE}/msg", glob("msg/*.msg")),
    ],
    package_data={
        PACKAGE: [
            "checkpoints/*.pt",
            "checkpoints/*.json",
            "data/splits/*.json",
            "data/real_labels/*/*.txt",
            "data/real_labels/*/*.json",
        ]
    },
    include_package_data=True,
    install_requires=["setuptools", "numpy", "pyyaml", "torch"],
    zip_safe=False,
    maintainer="mamba_tracking_ros maintainers",
    maintainer_email="maintainers@mamba-tracking-ros.invalid",
    description="Language-steered multimodal (RGB/thermal/event) Mamba tracking for ROS 2.",
    license="Apache-2.0",
    python_requires=">=3.10",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "mamba-tracking = mamba_tracking_ros.cli.main:main",
            "ingest_node = mamba_tracking_ros.nodes.ingest_node:main",
            "tracker_node = mamba_tracking_ros.nodes.tracker_node:main",
            "tracking_pipeline = mamba_tracking_ros.nodes.pipeline:main",
        ]
    },
)
