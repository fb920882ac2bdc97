"""The concept list of a session: its store, and the questions the Concepts tab asks of a concept."""
from __future__ import annotations

from pathlib import Path

from modules.config.concept_config import ConceptConfig
from modules.config.enums import ConceptType

from .config_session import ConfigSession
from .list_files import CONCEPTS_FOLDER, ListKind, ListStore, read_concepts, store_for, write_concepts


def _clone(concept: ConceptConfig) -> ConceptConfig:
    clone = concept.copy()
    clone.seed = ConceptConfig.default_values().seed  # a copy is a new concept: its own random seed
    return clone


CONCEPT_LIST = ListKind(
    folder=CONCEPTS_FOLDER,
    file_field='concept_file_name',
    read=lambda session, name: read_concepts(session.data_dir, name),
    write=lambda session, name, items: write_concepts(session.data_dir, name, items),
    new_item=lambda session: ConceptConfig.default_values(),
    clone=_clone,
)


def concept_store(session: ConfigSession) -> ListStore:
    return store_for(session, CONCEPT_LIST)


def matches(concept: ConceptConfig, text: str, kind: ConceptType | None, show_disabled: bool) -> bool:
    """The Concepts tab's filter: words in the name or path, the concept type, and disabled ones."""
    if not show_disabled and not concept.enabled:
        return False
    if kind is not None and concept.type != kind:
        return False
    needle = text.strip().lower()
    return not needle or needle in concept.name.lower() or needle in concept.path.lower()


def display_name(concept: ConceptConfig) -> str:
    return concept.name or Path(concept.path).name or 'unnamed'
