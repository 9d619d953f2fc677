"""helpers.course.fingerprints: a region of code found again renamed, reformatted or hidden in a string or a binary
file; code that only shares idioms with it, and regions too short to tell apart, are not."""

import gzip
import io
import zipfile

from helpers.course.fingerprints import Fingerprints, readable_texts, tokens, words

# A region of code: a box blur with loops (not one of the workbook's solutions).
CONV = '''
padded = np.pad(image, ((radius, radius), (radius, radius)), mode="edge")
blurred = np.empty(image.shape, dtype=np.result_type(image, np.float32))
for row in range(image.shape[0]):
    for col in range(image.shape[1]):
        patch = padded[row:row + 2 * radius + 1, col:col + 2 * radius + 1]
        blurred[row, col] = patch.mean() * gain + offset
'''
# The same code as a student might paste it: every name changed, other numbers and layout, comments.
DISGUISED = '''
def smooth(img, r, g=1.0, o=0):
    big = np.pad(img, ((r,r),(r,r)), mode='reflect')   # pad the borders
    res = np.empty(img.shape,
                   dtype=np.result_type(img, np.float32))
    for y in range(img.shape[0]):
        for x in range(img.shape[1]):
            win = big[y:y+2*r+1, x:x+2*r+1]
            res[y, x] = win.mean()*g + o
    return res
'''
# The same task written another way: it shares a line and some idioms, not the region.
OTHER_WAY = '''
padded = np.pad(image, ((radius, radius), (radius, radius)), mode="edge")
windows = sliding_window_view(padded, (2 * radius + 1, 2 * radius + 1))
blurred = windows.mean(axis=(-2, -1)) * gain + offset
for row in range(image.shape[0]):
    pass
'''


def test_names_literals_and_layout_fold_while_what_a_copy_cannot_rename_stays():
    assert tokens("out = np.maximum(x, 0)  # ReLU") == tokens("result=np.maximum( inputs , 0.0 )")
    assert tokens("out = np.maximum(x, 0)") == ["$", "=", "$", ".maximum", "(", "$", ",", "#", ")"]
    assert tokens("y = conv_relu(x, axis=1, name='a')") == ["$", "=", "conv_relu", "(", "$", ",", "axis", "=", "#",
                                                             ",", "name", "=", '"', ")"]
    assert tokens("for i in range(n): total += len(x)") == ["for", "$", "in", "range", "(", "$", ")", ":", "$", "+=",
                                                            "len", "(", "$", ")"]


def test_a_renamed_and_reformatted_copy_is_found_and_another_way_of_doing_it_is_not():
    prints = Fingerprints({"conv": CONV})
    assert [(m.label, m.share) for m in prints.find(DISGUISED)] == [("conv", 1.0)]
    assert prints.find(OTHER_WAY) == []
    half = "\n".join(DISGUISED.splitlines()[:4])      # the set-up: not most of it
    assert prints.find(half) == []


def test_regions_too_short_or_too_generic_have_no_fingerprint():
    prints = Fingerprints({"relu": "return np.maximum(x, 0)\n", "sgd": "next_w = w - config['learning_rate'] * dw\n",
                           "conv": CONV})
    assert sorted(prints.unprintable) == ["relu", "sgd"]
    assert prints.find("def f(x):\n    return np.maximum(x, 0)\n") == []


def test_code_inside_strings_and_binary_files_is_read():
    prints = Fingerprints({"conv": CONV})
    docstring = 'def conv():\n    """Like this::\n' + DISGUISED.replace("\n", "\n        ") + '"""\n'
    assert prints.find(docstring)
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a/b.py", DISGUISED)
    for data in (b"\0\x7fELF" + DISGUISED.encode() + b"\0\1", packed.getvalue(), gzip.compress(DISGUISED.encode())):
        assert any(prints.find(text) for text in readable_texts(data)), data[:10]
    assert readable_texts("plain text, é\n".encode()) == ["plain text, é\n"]


def test_answers_in_prose_are_found_in_other_words_of_case_and_layout_only():
    answer = ("The loss sits at 2.30 for about 200 steps, then falls slowly and almost linearly: the learning "
              "rate is too low for 1000 steps.")
    prints = Fingerprints({"answer": answer}, prose=True)
    assert words("Rate 0.95, 1e-4") == ["rate", "0.95", "1e", "4"]
    assert prints.find("> THE LOSS sits at 2.30 for about\n200 steps, then falls slowly and almost linearly: "
                       "the learning rate is too low for 1000 steps!")
    assert prints.find("The loss sits at 2.30 for about 200 steps.") == []   # a phrase, not the answer
