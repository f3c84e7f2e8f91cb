import pytest

from detectors.metadata_provenance import MetadataProvenanceDetector
from support.metadata_samples import SigningChain, make_signing_chain


@pytest.fixture(scope="module")
def detector() -> MetadataProvenanceDetector:
    loaded = MetadataProvenanceDetector()
    loaded.load()
    return loaded


@pytest.fixture(scope="session")
def signing_chain() -> SigningChain:
    return make_signing_chain()
