"""The sample list of a session: its store."""
from __future__ import annotations

from modules.config.sample_config import SampleConfig

from .config_session import ConfigSession
from .list_files import SAMPLES_FOLDER, ListKind, ListStore, read_samples, store_for, write_samples

SAMPLE_LIST = ListKind(
    folder=SAMPLES_FOLDER,
    file_field='sample_definition_file_name',
    read=lambda session, name: read_samples(session.data_dir, name, session.config.model_type),
    write=lambda session, name, items: write_samples(session.data_dir, name, items),
    new_item=lambda session: SampleConfig.for_model_type(session.config.model_type),
    clone=lambda sample: sample.copy(),
)


def sample_store(session: ConfigSession) -> ListStore:
    return store_for(session, SAMPLE_LIST)
