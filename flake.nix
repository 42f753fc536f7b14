{
  # Developer shell for reco: the toolchain CI uses, pinned by flake.lock once nixpkgs is
  # reachable (`nix flake lock`). Pants itself is bootstrapped by ./pants.
  description = "reco: article recommendation MLOps platform";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.11";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAll = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in {
      devShells = forAll (pkgs: {
        default = pkgs.mkShell {
          packages = [
            pkgs.python311
            pkgs.python39
            pkgs.redis
            pkgs.postgresql_15
            pkgs.kubectl
            pkgs.kustomize
            pkgs.buildah
            pkgs.skopeo
            pkgs.git
          ];
          # Same settings as pants.toml / .ci/run expect.
          MLFLOW_DISABLE_TELEMETRY = "true";
          DO_NOT_TRACK = "true";
          OPENBLAS_NUM_THREADS = "1";
        };
      });
    };
}
