# Jupyter server settings for the jdl workbench (`make lab` passes this file with --config).
# Listen on this machine only, and save notebooks without outputs so no personal data reaches a file.
c = get_config()  # noqa: F821 - provided by Jupyter when it loads this file
c.ServerApp.ip = "127.0.0.1"
c.FileContentsManager.pre_save_hook = "jdl_lib.workbench.notebook_privacy.pre_save_hook"
