; Inno Setup script for the Windows installer. packaging/build.sh runs it when iscc is on PATH:
;   iscc /DAppVersion=0.1.0 /DSourceDir=build\bundle\dist\latent-studio /DOutputDir=dist
;        /DIconFile=resources\icons\latent-studio.ico packaging\windows\latent-studio.iss
; Installs per user by default (no administrator needed); settings and models stay in the user's
; folders and are kept on uninstall.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#ifndef SourceDir
  #define SourceDir "..\..\build\bundle\dist\latent-studio"
#endif
#ifndef OutputDir
  #define OutputDir "..\..\dist"
#endif
#ifndef IconFile
  #define IconFile "..\..\resources\icons\latent-studio.ico"
#endif

[Setup]
AppId={{6E1B7C1A-4F0E-4B8C-9C3D-2A7F5E9B1D42}
AppName=Latent Studio
AppVersion={#AppVersion}
AppPublisher=Latent Studio
DefaultDirName={autopf}\Latent Studio
DefaultGroupName=Latent Studio
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir={#OutputDir}
OutputBaseFilename=LatentStudio-{#AppVersion}-setup
SetupIconFile={#IconFile}
UninstallDisplayIcon={app}\Latent Studio.exe
Compression=lzma2/max
SolidCompression=yes
; torch's libraries are large; the default 2 GB disk spanning limit does not apply to one file.
DiskSpanning=no
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "addtopath"; Description: "Add the latent-studio command to PATH"; Flags: unchecked

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\Latent Studio"; Filename: "{app}\Latent Studio.exe"
Name: "{group}\Uninstall Latent Studio"; Filename: "{uninstallexe}"
Name: "{autodesktop}\Latent Studio"; Filename: "{app}\Latent Studio.exe"; Tasks: desktopicon

[Registry]
Root: HKCU; Subkey: "Environment"; ValueType: expandsz; ValueName: "Path"; ValueData: "{olddata};{app}"; \
  Tasks: addtopath; Check: NeedsAddPath(ExpandConstant('{app}'))

[Run]
Filename: "{app}\Latent Studio.exe"; Description: "{cm:LaunchProgram,Latent Studio}"; Flags: nowait postinstall skipifsilent

[Code]
function NeedsAddPath(Dir: string): Boolean;
var
  Path: string;
begin
  if not RegQueryStringValue(HKEY_CURRENT_USER, 'Environment', 'Path', Path) then
    Path := '';
  Result := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(Path) + ';') = 0;
end;
