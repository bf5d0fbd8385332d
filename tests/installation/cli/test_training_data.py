"""The training commands' default data beside the checkout: a clear error when it is absent."""

import pytest

from engine.errors import ConfigError
from installation.cli.training_data import SHARED, require_present


def test_missing_default_data_names_the_option():
    """A default inside ../shared/data that is not there is a ConfigError naming the option to pass."""
    with pytest.raises(ConfigError, match="--real-images: the default training data .* pass --real-images"):
        require_present(real_images=[str(SHARED / "no-such-folder-for-this-test")])


def test_given_paths_pass_through(tmp_path):
    """Paths the user gave (outside the shared data) are left for the command to report."""
    require_present(styles=[str(tmp_path / "mine")], loss_network=str(tmp_path / "net.npz"), holdout=None)
