#!/usr/bin/env bash
# System packages evalkit's reports need beyond pip (Debian/Ubuntu):
#   fonts-noto-cjk  Chinese text in charts (any Noto Sans CJK / Source Han / WenQuanYi font works)
#   chromium        the headless browser the end-to-end report test drives
#   tesseract-ocr, tesseract-ocr-chi-sim
#                   optical character recognition: a test reads a chart's Chinese text back
#   libreoffice-writer-nogui, libreoffice-calc-nogui
#                   headless LibreOffice: tests convert the circular (通报, .docx) to PDF and
#                   open the Excel workbook (the GUI packages libreoffice-writer and
#                   libreoffice-calc serve as well, and are not replaced)
# Installs what is missing when run as root with apt-get; otherwise says what to install.
set -euo pipefail

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }

need=()
if command -v dpkg-query >/dev/null; then
  installed fonts-noto-cjk || need+=(fonts-noto-cjk)
  command -v chromium >/dev/null || need+=(chromium)
  installed tesseract-ocr || need+=(tesseract-ocr)
  installed tesseract-ocr-chi-sim || need+=(tesseract-ocr-chi-sim)
  installed libreoffice-writer-nogui || installed libreoffice-writer \
    || need+=(libreoffice-writer-nogui)
  installed libreoffice-calc-nogui || installed libreoffice-calc || need+=(libreoffice-calc-nogui)
fi
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "evalkit set-up: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  echo "evalkit set-up: please install ${need[*]} (needs root); charts need a CJK font" >&2
fi
