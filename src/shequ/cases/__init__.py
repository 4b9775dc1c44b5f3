"""One case engine (案件) for every report → dispatch → handle → verify → close flow."""
