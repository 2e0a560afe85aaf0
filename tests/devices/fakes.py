"""FAKE device trees and recorded command outputs, built from the real formats in
shared/reference/telemetry.md. None of this hardware exists on the test machine: every board here
is a fake file tree standing in for ``/`` (``EDGEBENCH_FS_ROOT``) plus canned command output.

Each ``fake_<board>(root)`` writes the tree and returns a FakeBoard with the command outputs the
board would print and the figures its files encode (computed here from the files' own values, so
tests compare against the fake's inputs, not hard-coded results).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# -- recorded command output -----------------------------------------------------------------------
TEGRASTATS_NANO_JP4 = (
    "RAM 1655/3956MB (lfb 311x4MB) SWAP 0/1978MB (cached 0MB) IRAM 0/252kB(lfb 252kB) CPU [12%@102,10%@102,11%@102,"
    "12%@102] EMC_FREQ 3%@1600 GR3D_FREQ 0%@76 APE 25 PLL@36.5C CPU@39C iwlwifi@44C PMIC@50C GPU@37C AO@47.5C "
    "thermal@38C POM_5V_IN 2132/2132 POM_5V_GPU 78/78 POM_5V_CPU 275/275"
)
TEGRASTATS_NANO_JP4_NOROOT = (
    "RAM 1655/3956MB (lfb 311x4MB) SWAP 0/1978MB (cached 0MB) IRAM 0/252kB(lfb 252kB) CPU [12%@1479,off,off,off] "
    "EMC_FREQ 3% GR3D_FREQ 37% PLL@36.5C CPU@39C PMIC@100C GPU@37C AO@47.5C thermal@38C POM_5V_IN 3012/2570 "
    "POM_5V_GPU 478/278 POM_5V_CPU 875/575"
)
TEGRASTATS_XAVIER_NX_JP4 = (
    "RAM 2448/7772MB (lfb 1049x4MB) SWAP 0/3886MB (cached 0MB) CPU [2%@1190,1%@1190,0%@1190,0%@1190,off,off] "
    "EMC_FREQ 0% GR3D_FREQ 0% AO@34.5C GPU@34C PMIC@100C AUX@33.5C CPU@35.5C thermal@34.6C "
    "VDD_IN 3420/3420 VDD_CPU_GPU_CV 496/496 VDD_SOC 1064/1064"
)
TEGRASTATS_AGX_XAVIER_JP4 = (
    "RAM 3160/15692MB (lfb 2960x4MB) SWAP 0/7846MB (cached 0MB) CPU [1%@1190,0%@1190,0%@1190,0%@1190,0%@1190,"
    "0%@1190,0%@1190,0%@1190] EMC_FREQ 0%@2133 GR3D_FREQ 0%@318 APE 150 MTS fg 0% bg 0% AO@39C GPU@38.5C "
    "Tdiode@42.25C PMIC@100C AUX@38C CPU@40C thermal@39.05C Tboard@38C GPU 0/0 CPU 311/311 SOC 1088/1088 CV 0/0 "
    "VDDRQ 155/155 SYS5V 1536/1536"
)
TEGRASTATS_ORIN_NANO_JP5 = (
    "04-22-2023 10:15:01 RAM 2099/7620MB (lfb 10x4MB) SWAP 0/3810MB (cached 0MB) CPU [1%@729,0%@729,0%@729,"
    "0%@729,off,off] EMC_FREQ 0%@2133 GR3D_FREQ 0%@[305] VIC_FREQ 115 APE 200 CPU@47.281C SOC2@45.5C "
    "SOC0@46.156C CV0@-256C GPU@47.218C tj@47.281C SOC1@46.312C CV2@-256C VDD_IN 4936mW/4936mW "
    "VDD_CPU_GPU_CV 640mW/640mW VDD_SOC 1440mW/1440mW"
)
TEGRASTATS_AGX_ORIN_JP5 = (
    "01-03-2023 16:07:54 RAM 2257/30536MB (lfb 5392x4MB) SWAP 0/15268MB (cached 0MB) CPU [3%@729,1%@729] "
    "EMC_FREQ 0%@204 GR3D_FREQ 0%@0 VIC_FREQ 115 APE 233 CV0@-256C CPU@41.437C Tboard@29C SOC2@39.062C "
    "tj@41.656C GPU@-256C VDD_GPU_SOC 2390mW/2390mW VDD_CPU_CV 796mW/796mW VIN_SYS_5V0 3522mW/3522mW "
    "NC 0mW/0mW VDDQ_VDD2_1V8AO 301mW/301mW NC 0mW/0mW"
)
# JetPack 6: lower-case sensors, per-GPC GR3D list, engines "off"; newest releases: three power
# values and two temperature values (illustrative of the documented variants).
TEGRASTATS_AGX_ORIN_JP6 = (
    "06-12-2024 10:00:01 RAM 4099/62841MB (lfb 10x4MB) SWAP 0/31421MB (cached 0MB) CPU [1%@729,0%@729,2%@1113,"
    "0%@729] GR3D_FREQ 12%@[1300,1300] NVENC off NVDEC off NVJPG off NVJPG1 off VIC off OFA off APE 200 "
    "cpu@52.9C/52.9C soc2@45.5C soc0@46.156C gpu@47.218C tj@52.9C/52.9C soc1@46.312C cv0@-256C "
    "VDD_GPU_SOC 4790mW/4790mW/5100mW VDD_CPU_CV 1196mW/1196mW/1300mW VIN_SYS_5V0 3922mW/3922mW/4000mW "
    "NC 0mW/0mW/0mW VDDQ_VDD2_1V8AO 501mW/501mW/520mW"
)

NVPMODEL_Q = "NVPM WARN: fan mode is not set!\nNV Power Mode: MAXN\n0\n"
NVPMODEL_Q_ORIN_NANO = "NV Power Mode: 15W\n0\n"
NVPMODEL_CONF_ORIN = (
    "< PARAM TYPE=FILE NAME=CPU_ONLINE >\nCORE_0 /sys/devices/system/cpu/cpu0/online\n"
    "< POWER_MODEL ID=0 NAME=MAXN >\nCPU_ONLINE CORE_0 1\n< POWER_MODEL ID=1 NAME=MODE_15W >\n"
    "< POWER_MODEL ID=2 NAME=MODE_30W >\n< POWER_MODEL ID=3 NAME=MODE_50W >\n< PM_CONFIG DEFAULT=2 >\n"
)
JETSON_CLOCKS_ORIN_LOCKED = """SOC family:tegra234  Machine:Jetson AGX Orin
Online CPUs: 0-3
cpu0: Online=1 Governor=schedutil MinFreq=2201600 MaxFreq=2201600 CurrentFreq=2201600 IdleStates: WFI=0 c7=0
cpu1: Online=1 Governor=schedutil MinFreq=2201600 MaxFreq=2201600 CurrentFreq=2201600 IdleStates: WFI=0 c7=0
cpu2: Online=1 Governor=schedutil MinFreq=2201600 MaxFreq=2201600 CurrentFreq=2201600 IdleStates: WFI=0 c7=0
cpu3: Online=1 Governor=schedutil MinFreq=2201600 MaxFreq=2201600 CurrentFreq=2201600 IdleStates: WFI=0 c7=0
GPU MinFreq=1300500000 MaxFreq=1300500000 CurrentFreq=1300500000
EMC MinFreq=204000000 MaxFreq=3199000000 CurrentFreq=3199000000 FreqOverride=1
DLA0_CORE:  Online=1 MinFreq=0 MaxFreq=1600000000 CurrentFreq=1600000000
FAN Dynamic Speed control=active hwmon4_pwm=255
NV Power Mode: MAXN
"""
JETSON_CLOCKS_NANO_UNLOCKED = """SOC family:tegra210  Machine:NVIDIA Jetson Nano Developer Kit
Online CPUs: 0-3
cpu0: Online=1 Governor=schedutil MinFreq=102000 MaxFreq=1479000 CurrentFreq=1479000 IdleStates: WFI=1 c7=1
cpu1: Online=1 Governor=schedutil MinFreq=102000 MaxFreq=1479000 CurrentFreq=921600 IdleStates: WFI=1 c7=1
cpu2: Online=0 Governor=schedutil MinFreq=102000 MaxFreq=1479000 CurrentFreq=102000 IdleStates: WFI=1 c7=1
GPU MinFreq=76800000 MaxFreq=921600000 CurrentFreq=76800000
EMC MinFreq=204000000 MaxFreq=1600000000 CurrentFreq=1600000000 FreqOverride=0
Fan: PWM=0
NV Power Mode: MAXN
"""

# Pi 5 firmware (leading spaces vary; some rails have only a voltage line).
PMIC_READ_ADC_PI5 = """     3V7_WL_SW_A current(0)=0.00000000A
       3V3_SYS_A current(1)=0.05270730A
       1V8_SYS_A current(2)=0.17567400A
      DDR_VDD2_A current(3)=0.02049600A
      DDR_VDDQ_A current(4)=0.00000000A
       1V1_SYS_A current(5)=0.16103800A
       0V8_SYS_A current(6)=0.31231000A
  VDD_CORE_A current(7)=5.03652000A
       HDMI_A current(22)=0.02049600A
     3V7_WL_SW_V volt(8)=3.74096000V
       3V3_SYS_V volt(9)=3.31255200V
       1V8_SYS_V volt(10)=1.79902400V
      DDR_VDD2_V volt(11)=1.11490700V
      DDR_VDDQ_V volt(12)=0.60659730V
       1V1_SYS_V volt(13)=1.10722300V
       0V8_SYS_V volt(14)=0.80148800V
  VDD_CORE_V volt(15)=0.89369880V
       HDMI_V volt(23)=5.15048000V
         EXT5V_V volt(24)=5.15296000V
          BATT_V volt(25)=0.00000000V
"""
PMIC_NOT_REGISTERED = 'error=1 error_msg="Command not registered"\n'


def pmic_expected_total_w(text: str = PMIC_READ_ADC_PI5) -> float:
    """A x V over rails that have both lines, computed from the fake's own text."""
    amps: dict[str, float] = {}
    volts: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.strip().partition(" ")
        v = float(value.split("=")[1].rstrip("AV"))
        (amps if name.endswith("_A") else volts)[name[:-2]] = v
    return sum(a * volts[r] for r, a in amps.items() if r in volts)


# -- writing trees ---------------------------------------------------------------------------------
def write(root: Path, device_path: str, content: str | int | float) -> Path:
    p = root / device_path.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(f"{content}\n" if not isinstance(content, str) else content)
    return p


@dataclass
class FakeBoard:
    name: str
    profile: str
    root: Path
    commands: dict[tuple[str, ...], str] = field(default_factory=dict)
    tegrastats_lines: list[str] = field(default_factory=list)
    total_w: float | None = None  # what the fake's files say the module draws
    rails_w: dict[str, float] = field(default_factory=dict)

    def runner(self, argv: Sequence[str], timeout_s: float) -> str | None:
        return self.commands.get(tuple(argv))

    def opener(self, argv: Sequence[str]) -> FakeStream | None:
        if argv and argv[0] == "tegrastats" and self.tegrastats_lines:
            return FakeStream(self.tegrastats_lines)
        return None


class FakeStream:
    """Stands in for a running ``tegrastats``: yields recorded lines, then ends."""

    def __init__(self, lines: list[str]) -> None:
        self._lines = list(lines)
        self.closed = False

    def lines(self) -> Iterator[str]:
        for line in self._lines:
            if self.closed:
                return
            yield line + "\n"

    def close(self) -> None:
        self.closed = True


def _thermal_zone(root: Path, n: int, kind: str, milli_c: int) -> None:
    write(root, f"/sys/class/thermal/thermal_zone{n}/type", kind + "\n")
    write(root, f"/sys/class/thermal/thermal_zone{n}/temp", milli_c)


def _iio_chip(root: Path, bus: str, rails: dict[str, tuple[float, float]]) -> dict[str, float]:
    """JetPack <= 4 IIO: rail_name_N, in_powerN_input (mW), in_voltageN_input (mV), in_currentN_input (mA)."""
    base = f"/sys/bus/i2c/drivers/ina3221x/{bus}/iio:device0"
    out = {}
    for n, (name, (mv, ma)) in enumerate(rails.items()):
        mw = round(mv * ma / 1000)
        write(root, f"{base}/rail_name_{n}", name + "\n")
        write(root, f"{base}/in_power{n}_input", mw)
        write(root, f"{base}/in_voltage{n}_input", round(mv))
        write(root, f"{base}/in_current{n}_input", round(ma))
        out[name] = mw / 1000
    return out


def _hwmon_chip(root: Path, bus: str, k: int, rails: list[tuple[str, tuple[float, float] | None]],
                update_interval_ms: int | None = None) -> dict[str, float]:
    """JetPack >= 5 hwmon: inN_label, inN_input (mV), currN_input (mA), N = 1..3; in7 is the shunt sum."""
    base = f"/sys/bus/i2c/drivers/ina3221/{bus}/hwmon/hwmon{k}"
    write(root, f"{base}/name", "ina3221\n")
    if update_interval_ms is not None:
        write(root, f"{base}/update_interval", update_interval_ms)
    out = {}
    for n, (name, reading) in enumerate(rails, 1):
        write(root, f"{base}/in{n}_label", name + "\n")
        if reading is None:
            continue
        mv, ma = reading
        write(root, f"{base}/in{n}_input", mv)
        write(root, f"{base}/curr{n}_input", ma)
        if name != "NC":
            out[name] = mv * ma / 1e6
    write(root, f"{base}/in7_label", "sum of shunt voltages\n")
    write(root, f"{base}/in7_input", 120)
    return out


def _jetson_common(root: Path, model: str, release: str) -> None:
    write(root, "/proc/device-tree/model", model + "\x00")
    write(root, "/proc/device-tree/compatible", "nvidia,p3509-0000+p3767-0005\x00nvidia,tegra234\x00")
    write(root, "/etc/nv_tegra_release", release)
    write(root, "/proc/cpuinfo", "processor\t: 0\nmodel name\t: ARMv8 Processor rev 1 (v8l)\nFeatures\t: fp asimd "
          "asimddp\n")
    _thermal_zone(root, 0, "CPU-therm", 41437)
    _thermal_zone(root, 1, "GPU-therm", 39500)
    for cpu in range(2):
        write(root, f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_cur_freq", 1479000)


R32 = ("# R32 (release), REVISION: 7.1, GCID: 29818004, BOARD: t210ref, EABI: aarch64, "
       "DATE: Sat Feb 19 17:05:08 UTC 2022\n")
R35 = ("# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64, "
       "DATE: Tue Aug  1 19:57:35 UTC 2023\n")
R36 = ("# R36 (release), REVISION: 3.0, GCID: 36923193, BOARD: generic, EABI: aarch64, "
       "DATE: Fri Jul 19 23:24:25 UTC 2024\n")


def fake_nano_jp4(root: Path) -> FakeBoard:
    _jetson_common(root, "NVIDIA Jetson Nano Developer Kit", R32)
    rails = _iio_chip(root, "6-0040", {"POM_5V_IN": (5000, 426.4), "POM_5V_GPU": (5000, 15.6),
                                       "POM_5V_CPU": (5000, 55)})
    return FakeBoard("nano-jp4", "jetson", root, {("nvpmodel", "-q"): NVPMODEL_Q,
                                                   ("jetson_clocks", "--show"): JETSON_CLOCKS_NANO_UNLOCKED},
                     [TEGRASTATS_NANO_JP4], rails["POM_5V_IN"], rails)


def fake_xavier_nx_jp4(root: Path) -> FakeBoard:
    _jetson_common(root, "NVIDIA Jetson Xavier NX Developer Kit", R32)
    rails = _iio_chip(root, "7-0040", {"VDD_IN": (5000, 684), "VDD_CPU_GPU_CV": (5000, 99.2),
                                       "VDD_SOC": (5000, 212.8)})
    return FakeBoard("xavier-nx-jp4", "jetson", root, {("nvpmodel", "-q"): NVPMODEL_Q},
                     [TEGRASTATS_XAVIER_NX_JP4], rails["VDD_IN"], rails)


def fake_agx_xavier_jp4(root: Path) -> FakeBoard:
    _jetson_common(root, "Jetson-AGX", R32)
    rails = _iio_chip(root, "1-0040", {"GPU": (19000, 20), "CPU": (19000, 16.4), "SOC": (19000, 57.3)})
    rails |= _iio_chip(root, "1-0041", {"CV": (19000, 5), "VDDRQ": (19000, 8.2), "SYS5V": (5000, 307.2)})
    return FakeBoard("agx-xavier-jp4", "jetson", root, {("nvpmodel", "-q"): NVPMODEL_Q},
                     [TEGRASTATS_AGX_XAVIER_JP4], sum(rails.values()), rails)


def fake_orin_nano_jp5(root: Path) -> FakeBoard:
    _jetson_common(root, "NVIDIA Orin Nano Developer Kit", R35)
    rails = _hwmon_chip(root, "1-0040", 3, [("VDD_IN", (5000, 987.2)), ("VDD_CPU_GPU_CV", (5000, 128)),
                                            ("VDD_SOC", (5000, 288))], update_interval_ms=140)
    # No root: nvpmodel -q fails; the status file and config name the mode.
    write(root, "/var/lib/nvpmodel/status", "pmode:0001\nfmode:quiet\n")
    write(root, "/etc/nvpmodel.conf", NVPMODEL_CONF_ORIN)
    return FakeBoard("orin-nano-jp5", "jetson", root, {}, [TEGRASTATS_ORIN_NANO_JP5], rails["VDD_IN"], rails)


def _agx_orin(root: Path, release: str, k1: int, k2: int) -> dict[str, float]:
    _jetson_common(root, "Jetson AGX Orin Developer Kit", release)
    rails = _hwmon_chip(root, "1-0040", k1, [("VDD_GPU_SOC", (5000, 478)), ("VDD_CPU_CV", (5000, 159.2)),
                                             ("VIN_SYS_5V0", (5000, 704.4))])
    rails |= _hwmon_chip(root, "1-0041", k2, [("NC", None), ("VDDQ_VDD2_1V8AO", (5000, 60.2)), ("NC", None)])
    write(root, "/sys/class/hwmon/hwmon7/name", "soctherm_oc\n")
    for n in (1, 2, 3):
        write(root, f"/sys/class/hwmon/hwmon7/oc{n}_event_cnt", 0)
    return rails


def fake_agx_orin_jp5(root: Path) -> FakeBoard:
    rails = _agx_orin(root, R35, 3, 4)
    total = rails["VDD_GPU_SOC"] + rails["VDD_CPU_CV"] + rails["VIN_SYS_5V0"]
    return FakeBoard("agx-orin-jp5", "jetson", root, {("nvpmodel", "-q"): NVPMODEL_Q,
                                                       ("jetson_clocks", "--show"): JETSON_CLOCKS_ORIN_LOCKED},
                     [TEGRASTATS_AGX_ORIN_JP5], total, rails)


def fake_agx_orin_jp6(root: Path) -> FakeBoard:
    rails = _agx_orin(root, R36, 1, 5)  # hwmon numbers differ between boots: found by name, never by number
    total = rails["VDD_GPU_SOC"] + rails["VDD_CPU_CV"] + rails["VIN_SYS_5V0"]
    return FakeBoard("agx-orin-jp6", "jetson", root, {("nvpmodel", "-q"): NVPMODEL_Q},
                     [TEGRASTATS_AGX_ORIN_JP6], total, rails)


def _pi(root: Path, model: str, revision: str) -> None:
    write(root, "/proc/device-tree/model", model + "\x00")
    write(root, "/proc/cpuinfo", f"processor\t: 0\nFeatures\t: fp asimd evtstrm crc32 cpuid\n\nHardware\t: BCM2835\n"
          f"Revision\t: {revision}\nSerial\t\t: 10000000abcdef01\nModel\t\t: {model}\n")
    _thermal_zone(root, 0, "cpu-thermal", 42200)
    for cpu in range(4):
        write(root, f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_cur_freq", 1500000)


def _pi_commands(throttled: str, extra: dict[tuple[str, ...], str]) -> dict[tuple[str, ...], str]:
    return {("vcgencmd", "measure_temp"): "temp=42.2'C\n",
            ("vcgencmd", "measure_clock", "arm"): "frequency(48)=1500398464\n",
            ("vcgencmd", "measure_volts", "core"): "volt=0.8500V\n",
            ("vcgencmd", "get_throttled"): f"throttled={throttled}\n", **extra}


def fake_pi4(root: Path) -> FakeBoard:
    _pi(root, "Raspberry Pi 4 Model B Rev 1.4", "d03114")
    return FakeBoard("pi4", "rpi", root, _pi_commands("0x0", {("vcgencmd", "pmic_read_adc"): PMIC_NOT_REGISTERED}))


def fake_pi5(root: Path) -> FakeBoard:
    _pi(root, "Raspberry Pi 5 Model B Rev 1.0", "d04170")
    return FakeBoard("pi5", "rpi", root, _pi_commands("0x50000", {("vcgencmd", "pmic_read_adc"): PMIC_READ_ADC_PI5}),
                     total_w=pmic_expected_total_w())


def fake_coral_devboard(root: Path) -> FakeBoard:
    write(root, "/proc/device-tree/model", "Freescale i.MX8MQ Phanbell\x00")
    write(root, "/proc/cpuinfo", "processor\t: 0\nFeatures\t: fp asimd\n")
    write(root, "/sys/class/apex/apex_0/temp", 48250)
    for n, t in enumerate((85000, 90000, 95000)):
        write(root, f"/sys/class/apex/apex_0/trip_point{n}_temp", t)
    _thermal_zone(root, 0, "cpu-thermal", 45000)
    return FakeBoard("coral-devboard", "coral", root)


def fake_coral_usb_on_x86(root: Path) -> FakeBoard:
    fake_x86_rapl(root)
    write(root, "/sys/bus/usb/devices/2-1/idVendor", "18d1\n")
    write(root, "/sys/bus/usb/devices/2-1/idProduct", "9302\n")
    return FakeBoard("coral-usb-x86", "coral", root)


MAX_RANGE_UJ = 262143328850


def fake_x86_rapl(root: Path, package_uj: int = 123_456_789, dram_uj: int = 5_000_000) -> FakeBoard:
    write(root, "/proc/cpuinfo", "processor\t: 0\nmodel name\t: Intel(R) Core(TM) i7-1165G7 @ 2.80GHz\n"
          "flags\t\t: fpu sse4_2 avx avx2 fma avx512f avx512_vnni\n")
    zones = {"intel-rapl:0": "package-0", "intel-rapl:0:0": "core", "intel-rapl:0:1": "uncore",
             "intel-rapl:0:2": "dram", "intel-rapl:1": "psys"}
    for zone, name in zones.items():
        base = f"/sys/class/powercap/{zone}"
        write(root, f"{base}/name", name + "\n")
        write(root, f"{base}/max_energy_range_uj", MAX_RANGE_UJ)
        write(root, f"{base}/energy_uj", package_uj if name == "package-0" else dram_uj if name == "dram" else 42)
    _thermal_zone(root, 0, "x86_pkg_temp", 55000)
    _thermal_zone(root, 1, "acpitz", 40000)
    for cpu in range(2):
        write(root, f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_cur_freq", 2800000)
    return FakeBoard("x86-rapl", "host", root)


def fake_nvidia_gpu_host(root: Path) -> FakeBoard:
    fake_x86_rapl(root)
    write(root, "/proc/driver/nvidia/gpus/0000:01:00.0/information",
          "Model: \t\t NVIDIA GeForce RTX 3080\nIRQ:   \t\t 150\nBus Type: \t PCIe\n")
    return FakeBoard("nvidia-gpu", "nvidia-gpu", root)


def fake_bare_host(root: Path) -> FakeBoard:
    write(root, "/proc/cpuinfo", "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: avx2\n")
    write(root, "/proc/stat", "cpu  6196 0 2725 29975 751 0 49 56 0 0\n")
    return FakeBoard("bare-host", "host", root)


BOARDS = {
    "nano-jp4": fake_nano_jp4,
    "xavier-nx-jp4": fake_xavier_nx_jp4,
    "agx-xavier-jp4": fake_agx_xavier_jp4,
    "orin-nano-jp5": fake_orin_nano_jp5,
    "agx-orin-jp5": fake_agx_orin_jp5,
    "agx-orin-jp6": fake_agx_orin_jp6,
    "pi4": fake_pi4,
    "pi5": fake_pi5,
    "coral-devboard": fake_coral_devboard,
    "coral-usb-x86": fake_coral_usb_on_x86,
    "x86-rapl": fake_x86_rapl,
    "nvidia-gpu": fake_nvidia_gpu_host,
    "bare-host": fake_bare_host,
}
