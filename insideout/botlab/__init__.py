"""The bot lab: machine listeners that try to pass the captcha, and that judge generated speech.

- features: a clip's prosody and spectrum as one fixed-length vector (librosa);
- classifier: an acoustic emotion classifier over those features (scikit-learn), trained on the
  starter library: the machine attacker of the bot lab, and the judge of whether a generated clip
  carries its intended emotion;
- asr: offline speech recognition (pocketsphinx) and word error rate, for intelligibility.
"""
