"""Host side of the SVMs: export scikit-learn models to ulearn blobs (``export``).

Section tags (defined and documented in ``lib/ulearn/svm/model.py``): NRMM, NRMK, NRMS (feature
normalization), LINW, LINB (linear), SVEC, SVNM, PCOE, PINT (kernel SVC / one-class), RFFW, RFFB,
OCWT, OCRH (random-Fourier-feature one-class, trained on the device), plus META and FEAT.
"""
