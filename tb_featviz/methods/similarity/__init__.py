"""Representation similarity: each layer's centred Gram matrix on the probe images, compared by
linear CKA across steps, layers and runs (Kornblith et al. 2019): the engine and the method."""

from tb_featviz.methods.similarity.linear_cka import centred_gram, cka, cka_of_features, cka_of_grams
from tb_featviz.methods.similarity.gram import GramRecorder, SimilarityResult
from tb_featviz.methods.similarity.method import Similarity
from tb_featviz.methods.similarity.options import SimilarityOptions
from tb_featviz.methods.similarity.record import gram_of

__all__ = ["Similarity", "SimilarityOptions", "SimilarityResult", "GramRecorder", "cka", "cka_of_features",
           "cka_of_grams", "centred_gram", "gram_of"]
