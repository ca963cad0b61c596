// Topology helpers (vote, beamSearch, …), evaluated right after prelude.js.
