package modelgen

// corpus is the built-in English text the tiny tokenizers are trained on.
// It is written for this package: a few paragraphs in the register of the
// questions a gateway answers, so that common words become single tokens.
const corpus = `The gateway answers questions by sending each one to the expert that knows the most about it.
A question about a bank account goes to the banking expert, a question about a flight goes to the travel expert,
and a question about a credit card goes to the credit card expert. When no expert is a good match, the default
expert answers instead. Every answer carries a short record of the route it took, so that people can see why
it was chosen and can correct the router when it is wrong.

How do I transfer money from my checking account to my savings account? You can move money between your own
accounts at any time in the app. Open the account you want to send money from, choose transfer, pick the other
account, enter the amount and confirm. The money usually arrives at once, but a transfer to another bank can take
one or two business days. There is no fee for a transfer between your own accounts.

What is the interest rate on my savings account? The rate depends on the kind of account and on the balance.
You can find the current rate in the app under account details, or on the rates page of the website. Rates can
change, and we will tell you before they do.

My card was declined at the store. What should I do? First check that the card has not expired and that you have
enough money or credit left. A card can also be declined when a payment looks unusual; in that case we send you a
message and you can confirm that the payment was yours. If the card was lost or stolen, lock it in the app and
order a new one. The new card arrives in three to five days.

I want to book a flight to Paris for next week. Which days are cheapest? Prices are often lower in the middle of
the week and higher on Friday and Sunday. Booking early helps, and so does being flexible about the time of day.
Remember to check the baggage rules and whether you need a visa. Travel insurance can cover a cancelled flight,
a lost bag or a medical emergency abroad.

Can you help me change my hotel reservation? Tell me the name of the hotel, the dates of your stay and the new
dates you would like. Some rooms can be changed for free until the day before arrival; others cannot be changed
or refunded at all. I will check the rules of your booking and tell you what is possible.

The router learns from examples. Each example is a question with the name of the expert that should answer it.
The questions are turned into vectors, and the router learns which part of the space belongs to which expert.
When a new question arrives, the router looks at where its vector falls and returns the most likely experts with
their weights. If the best weight is too low, the question goes to the default expert. The router can be trained
again at any time, and every trained version is kept, so that an older one can be restored.

Some answers need facts from documents. The knowledge store keeps short passages from handbooks, policies and
guides, each with the name of its source. The gateway finds the passages closest to the question and gives them to
the expert, which then answers with citations. A tenant can exclude the documents of a data owner, and the gateway
will never show those passages in an answer for that tenant.

The local expert runs a small mixture of experts model on the machine itself. Each layer has several feed forward
experts and a router that picks the two best for every token. Only the chosen experts do any work, which is why a
model with many experts can still be fast. The model reads its weights from a single file, and the numbers in that
file can be stored with fewer bits to save memory, at a small cost in quality.

Thank you for your message. Is there anything else I can help you with today? Have a good day, and please let us
know if you have more questions. We are happy to help at any time, day or night, in the app, on the website or by
phone. 0 1 2 3 4 5 6 7 8 9 10 20 100 2024 2025 12.50 99.99 $ % @ # & * ( ) [ ] { } < > = + - / \ | ~ ^ _ ! ? , ; :
`
