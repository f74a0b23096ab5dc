#!/bin/sh
# Add Latent Studio to the desktop's application menu (for this user): links the executable into
# ~/.local/bin and installs the .desktop entry and icons. Run from the unpacked folder.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
data="${XDG_DATA_HOME:-$HOME/.local/share}"
mkdir -p "$HOME/.local/bin" "$data/applications" "$data/icons"
ln -sf "$here/latent-studio" "$HOME/.local/bin/latent-studio"
sed "s|^Exec=latent-studio|Exec=\"$here/latent-studio\"|" "$here/share/applications/latent-studio.desktop" \
  > "$data/applications/latent-studio.desktop"
cp -R "$here/share/icons/hicolor" "$data/icons/"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$data/applications" || true
echo "Latent Studio added to the application menu; 'latent-studio' is in ~/.local/bin"
