"""The `onto_functions` pytest plugin: every fixture onto-functions offers, in one name.

It defines nothing itself; it registers three fixture modules, and the
dependencies run one way (plugin → stack → emulator_fixtures):

- `onto_functions.testing.emulator_fixtures`: `firestore_emulator`,
  `event_receiver`, `project_id`, `db`;
- `onto_functions.testing.stack`: `onto_stack`;
- `onto_functions.testing.auth_fixtures`: `auth_emulator`, `auth_user`, `auth_db`.

How to enable it:

- installed package, pytest's plugin autoloading on (the default): nothing
  to do; the pytest11 entry point `onto_functions` loads this module;
- autoloading off (PYTEST_DISABLE_PLUGIN_AUTOLOAD=1): `-p onto_functions` on
  the command line, or `pytest_plugins = ["onto_functions.testing.plugin"]`
  in the rootdir's conftest.py;
- either way: `pytest_plugins = ["onto_functions.testing.stack"]` (all five
  fixtures) or `["onto_functions.testing.emulator_fixtures"]` (all but
  `onto_stack`); with autoloading on, pytest sees they are registered already.

Do not list this module itself in `pytest_plugins` while autoloading is on:
the entry point has registered it as `onto_functions`, and pytest refuses one
module under two names ("Plugin already registered under a different name").
"""

pytest_plugins = ["onto_functions.testing.emulator_fixtures", "onto_functions.testing.stack",
                  "onto_functions.testing.auth_fixtures"]
